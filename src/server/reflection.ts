import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { BinaryReader } from '@bufbuild/protobuf/wire';

/** Written by `buf build` (see `npm run gen`): the exact descriptors protoc would produce, with comments. */
export const DESCRIPTOR_SET_PATH = path.join(__dirname, '..', 'gen', 'descriptor.binpb');

/** The encoded FileDescriptorProtos of a FileDescriptorSet (field 1), byte for byte. */
export function fileDescriptorProtos(descriptorSet: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(descriptorSet);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) files.push(reader.bytes());
    else reader.skip(wireType);
  }
  return files;
}

/**
 * Server reflection (v1 and v1alpha) fed by buf's descriptor set rather than
 * protobufjs's reconstruction, which renames map entries and breaks Go
 * clients such as grpcurl. @grpc/reflection only reads `fileDescriptorProtos`
 * from the package definition, so it gets the original bytes.
 */
export function addReflection(server: Server, descriptorSetPath = DESCRIPTOR_SET_PATH): void {
  const files = fileDescriptorProtos(readFileSync(descriptorSetPath));
  const packageDefinition = {
    'tokenrelay.descriptors': { format: 'descriptor', fileDescriptorProtos: files },
  } as unknown as PackageDefinition;
  new ReflectionService(packageDefinition).addToServer(server);
}
