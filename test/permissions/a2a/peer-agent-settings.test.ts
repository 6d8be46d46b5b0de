import t from 'tap';
import { peerAgentSettings } from '../../../permissions/a2a/peer-agent-settings';

t.test('the waits from the environment, in seconds; unset means the defaults', async (t) => {
  t.same(peerAgentSettings({}), {});
  t.same(peerAgentSettings({ P2P_COMM_HOST_A2A_WAIT_SECONDS: '30', P2P_COMM_HOST_A2A_STREAM_IDLE_SECONDS: '3600' }), { waitMs: 30_000, streamIdleMs: 3_600_000 });
});

t.test('a value out of range or not whole seconds is refused, naming the variable', async (t) => {
  for (const value of ['0', '291', '1.5', '-3', 'soon', ' 30']) {
    t.throws(() => peerAgentSettings({ P2P_COMM_HOST_A2A_WAIT_SECONDS: value }), /P2P_COMM_HOST_A2A_WAIT_SECONDS must be a whole number of seconds, 1-290/, value);
  }
  t.throws(() => peerAgentSettings({ P2P_COMM_HOST_A2A_STREAM_IDLE_SECONDS: '86401' }), /P2P_COMM_HOST_A2A_STREAM_IDLE_SECONDS/);
});
