import { IDEMPOTENT_METHODS } from '../../../src/client/interceptors';

it('the SDK retries exactly the unary methods the proto marks idempotent', () => {
  // proto/tokenrelay/v1/data_service.proto: ListModels is NO_SIDE_EFFECTS, Cancel is IDEMPOTENT.
  expect([...IDEMPOTENT_METHODS].sort()).toEqual(['Cancel', 'ListModels']);
});
