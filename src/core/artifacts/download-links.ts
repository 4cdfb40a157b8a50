import type { BlobStore } from '../../ports/blob-store.js';
import type { Artifact, ArtifactVersion } from './artifact-types.js';
import type { SignedUrls } from './signed-urls.js';

/**
 * Links that download one artifact version without an API key: presigned by the blob store when
 * it can (S3), otherwise Kiln's own HMAC-signed `/files/...` links.
 */
export class DownloadLinks {
  constructor(
    private readonly blobs: BlobStore,
    private readonly signed: SignedUrls,
  ) {}

  async url(artifact: Artifact, version: ArtifactVersion, baseUrl: string): Promise<string> {
    if (this.blobs.presignedUrl) {
      return this.blobs.presignedUrl(version.sha256, artifact.name, version.mediaType, Math.round(this.signed.ttlMs / 1000));
    }
    return baseUrl + this.signed.path(version.id);
  }
}
