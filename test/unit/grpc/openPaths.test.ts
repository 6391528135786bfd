import { parseConfig } from '../../../src/core/config';
import { Principals } from '../../../src/core/principals';
import { AuthGate } from '../../../src/grpc/interceptors/auth';
import { refusedWhileDraining } from '../../../src/grpc/interceptors/draining';

const GENERATE = '/tokenrelay.v1.DataService/Generate';
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH = '/grpc.health.v1.Health/Watch';
const REFLECTION = '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo';
const REFLECTION_ALPHA = '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo';

function gate(protectReflection: boolean): AuthGate {
  const { auth } = parseConfig({ auth: { tokens: ['a-token-of-sixteen-or-more'] } });
  return new AuthGate(Principals.fromConfig(auth), { protectReflection });
}

describe('which methods stay open', () => {
  test('while draining: health and both reflection versions are served, everything else is refused', () => {
    expect([HEALTH_CHECK, HEALTH_WATCH, REFLECTION, REFLECTION_ALPHA].map(refusedWhileDraining)).toEqual([false, false, false, false]);
    expect(refusedWhileDraining(GENERATE)).toBe(true);
    // A look-alike service name is not health.
    expect(refusedWhileDraining('/grpc.health.v1.HealthX/Check')).toBe(true);
  });

  test('with auth on: health and reflection need no principal unless reflection is protected', () => {
    const open = gate(false);
    expect([HEALTH_CHECK, HEALTH_WATCH, REFLECTION, REFLECTION_ALPHA, GENERATE].map((path) => open.guards(path))).toEqual([
      false,
      false,
      false,
      false,
      true,
    ]);
    const protectedReflection = gate(true);
    expect([HEALTH_CHECK, REFLECTION, REFLECTION_ALPHA, GENERATE].map((path) => protectedReflection.guards(path))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    expect(open.guards('/grpc.health.v1.HealthX/Check')).toBe(true);
  });
});
