/** The bytes of a file to send: in memory, a Blob (a file on disk in Node: see `@kiln/sdk/node`), or a stream. */
export type FileData = Blob | Uint8Array | ArrayBuffer | ReadableStream<Uint8Array> | string;

/**
 * A file to upload: a `File` (it has a name), or a name with its bytes. A stream is read whole
 * before sending (multipart bodies are built from Blobs); a Blob backed by a file on disk is
 * streamed from the disk by the platform.
 */
export type FileInput = File | { name: string; data: FileData; type?: string };

async function toBlob(data: FileData, type: string | undefined): Promise<Blob> {
  const options = type ? { type } : {};
  if (data instanceof Blob) return type && !data.type ? new Blob([data], options) : data;
  if (data instanceof ReadableStream) return new Blob([await new Response(data).arrayBuffer()], options);
  return new Blob([data as BlobPart], options);
}

/** Appends files to a form, each as a part of field `field`. */
export async function appendFiles(form: FormData, files: readonly FileInput[], field = 'files'): Promise<void> {
  for (const file of files) {
    if (typeof File !== 'undefined' && file instanceof File) {
      form.append(field, file, file.name);
      continue;
    }
    const named = file as { name?: unknown; data?: FileData; type?: string };
    if (typeof named.name !== 'string' || !named.name || named.data === undefined) {
      throw new TypeError('A file to upload is a File or {name, data}: give it a name.');
    }
    form.append(field, await toBlob(named.data, named.type), named.name);
  }
}
