import { MemoryStore } from '../../../../src/core/streams/memoryStore';
import { describeStreamStoreContract } from '../../../contract/streamStore';

describeStreamStoreContract('memory', async (options) => new MemoryStore(options));
