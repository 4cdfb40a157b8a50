// Generates src/generated/openapi.ts from Kiln's OpenAPI document with openapi-typescript.
// `node scripts/generate.mjs [OUTPUT]` writes elsewhere (the drift test compares the two).
import { readFile, writeFile } from 'node:fs/promises';
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript';

const document = new URL('../../../docs/openapi.json', import.meta.url);
const output = process.argv[2] ?? new URL('../src/generated/openapi.ts', import.meta.url);

// A default does not make a field required: request bodies may leave it out.
const ast = await openapiTS(JSON.parse(await readFile(document, 'utf8')), { defaultNonNullable: false });
await writeFile(output, COMMENT_HEADER + astToString(ast));
