/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // One worker: integration tests hold real servers, child processes and
  // thousands of streams, and some assert bounds the issues set (a producer
  // aborted within 100 ms); a second worker on a 2-core machine would race
  // them for CPU.
  maxWorkers: 1,
  testTimeout: 30_000,
};
