import { ROUND_ROBIN_SERVICE_CONFIG, channelOptions } from '../../../src/client/channel';
import { HOST_LIST_SCHEME, channelTarget } from '../../../src/client/target';

describe('channelTarget: one address', () => {
  it('passes a single host:port through unchanged, with pick_first as before', () => {
    expect(channelTarget('localhost:50051')).toEqual({ target: 'localhost:50051', loadBalancing: 'pick_first' });
    expect(channelTarget('127.0.0.1:50051')).toEqual({ target: '127.0.0.1:50051', loadBalancing: 'pick_first' });
    expect(channelTarget('[::1]:50051')).toEqual({ target: '[::1]:50051', loadBalancing: 'pick_first' });
    expect(channelTarget(['10.0.0.1:50051'])).toEqual({ target: '10.0.0.1:50051', loadBalancing: 'pick_first' });
  });

  it('passes other URIs grpc-js resolves itself through unchanged', () => {
    expect(channelTarget('unix:/run/tokenrelay.sock')).toEqual({ target: 'unix:/run/tokenrelay.sock', loadBalancing: 'pick_first' });
    expect(channelTarget('xds:///relay')).toEqual({ target: 'xds:///relay', loadBalancing: 'pick_first' });
  });
});

describe('channelTarget: several addresses', () => {
  it('uses the ipv4: scheme for IPv4 literals, as an array or a comma-separated string', () => {
    const expected = { target: 'ipv4:127.0.0.1:5001,127.0.0.1:5002', loadBalancing: 'round_robin' };
    expect(channelTarget(['127.0.0.1:5001', '127.0.0.1:5002'])).toEqual(expected);
    expect(channelTarget('127.0.0.1:5001, 127.0.0.1:5002')).toEqual(expected);
  });

  it('uses the ipv6: scheme for IPv6 literals', () => {
    expect(channelTarget(['[::1]:5001', '[fe80::1]:5002'])).toEqual({
      target: 'ipv6:[::1]:5001,[fe80::1]:5002',
      loadBalancing: 'round_robin',
    });
  });

  it("uses tokenrelay's host-list resolver for host names and mixed families", () => {
    expect(channelTarget('localhost:5001,localhost:5002')).toEqual({
      target: `${HOST_LIST_SCHEME}:localhost:5001,localhost:5002`,
      loadBalancing: 'round_robin',
    });
    expect(channelTarget(['127.0.0.1:5001', '[::1]:5002']).target).toBe(`${HOST_LIST_SCHEME}:127.0.0.1:5001,[::1]:5002`);
  });
});

describe('channelTarget: target URIs', () => {
  it('balances dns:, ipv4: and ipv6: URIs round_robin and keeps them as given', () => {
    for (const uri of [
      'dns:///relay.internal:50051',
      'dns:relay.internal:50051',
      'dns://8.8.8.8/relay.internal:50051',
      'dns:///relay.internal',
      'ipv4:127.0.0.1:1,127.0.0.1:2',
      'ipv6:[::1]:1,[::1]:2',
    ]) {
      expect(channelTarget(uri)).toEqual({ target: uri, loadBalancing: 'round_robin' });
    }
  });

  it('rejects URIs grpc-js could not resolve, naming the entry', () => {
    expect(() => channelTarget('dns:///')).toThrow('address "dns:///": no host after "dns:"');
    expect(() => channelTarget('dns:///a:1,b:2')).toThrow('dns: takes one name');
    expect(() => channelTarget('ipv4:127.0.0.1:1,localhost:2')).toThrow('entry 1 "localhost:2" is not an IPv4 address');
    expect(() => channelTarget('ipv6:127.0.0.1:1')).toThrow('entry 0 "127.0.0.1:1" is not an IPv6 address');
  });
});

describe('channelTarget: bad input', () => {
  it.each([
    [[], 'addresses: empty list'],
    ['', 'address: empty'],
    ['   ', 'address: empty'],
    ['foo', 'address: "foo" has no port'],
    [['127.0.0.1:1', 'foo'], 'addresses[1]: "foo" has no port'],
    ['127.0.0.1:1,', 'addresses[1]: empty entry'],
    [['127.0.0.1:1', ' '], 'addresses[1]: empty entry'],
    ['a:1,b:http', 'addresses[1]: "b:http" is not "host:port"'],
    [[':5001', '127.0.0.1:1'], 'addresses[0]: ":5001" has no host'],
    [['127.0.0.1:0', '127.0.0.1:1'], 'addresses[0]: "127.0.0.1:0" has port 0, not 1-65535'],
    [['127.0.0.1:70000'], 'addresses[0]: "127.0.0.1:70000" has port 70000, not 1-65535'],
    [['::1', '127.0.0.1:1'], 'addresses[0]: "::1" has no port'],
    [['dns:///relay:1', '127.0.0.1:1'], 'addresses[0]: "dns:///relay:1" is a URI or a path'],
    [['127.0.0.1:1', 'ipv4:127.0.0.1:2'], 'addresses[1]: "ipv4:127.0.0.1:2" is a URI or a path'],
  ] as const)('%j is an Error naming the entry', (input, message) => {
    expect(() => channelTarget(input as string | string[])).toThrow(message);
  });

  it('names a non-string entry from JavaScript callers', () => {
    const addresses = ['127.0.0.1:1', 5002] as unknown as string[];
    expect(() => channelTarget(addresses)).toThrow('addresses[1]: expected a "host:port" string, got number');
  });
});

describe('channelOptions load balancing', () => {
  it('sets no service config for pick_first, so one address behaves as before', () => {
    expect(channelOptions()).not.toHaveProperty(['grpc.service_config']);
  });

  it('selects round_robin with the service config, keeping every other option', () => {
    const options = channelOptions({}, 'round_robin');
    expect(JSON.parse(options['grpc.service_config'] as string)).toEqual({ loadBalancingConfig: [{ round_robin: {} }] });
    expect(options).toEqual({ ...channelOptions(), 'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG });
  });

  it("lets the caller's own service config win", () => {
    const own = JSON.stringify({ loadBalancingConfig: [{ pick_first: {} }] });
    expect(channelOptions({ 'grpc.service_config': own }, 'round_robin')['grpc.service_config']).toBe(own);
  });
});
