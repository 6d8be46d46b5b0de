import t from 'tap';
import { a2aServingSettings } from '../../../permissions/a2a/serving-settings';

t.test('the serving limits from the environment; unset means the defaults', async (t) => {
  t.same(a2aServingSettings({}), {});
  t.same(
    a2aServingSettings({
      P2P_COMM_HOST_A2A_FORWARD_PER_PEER: '2',
      P2P_COMM_HOST_A2A_FORWARD_TOTAL: '8',
      P2P_COMM_HOST_A2A_FORWARD_RETRY_SECONDS: '60',
      P2P_COMM_HOST_A2A_MAX_ANSWER_CHARS: '2000000',
      P2P_COMM_HOST_A2A_CARD_REFRESH_SECONDS: '300',
      P2P_COMM_HOST_A2A_CARD_TIMEOUT_SECONDS: '5',
      P2P_COMM_HOST_A2A_DECLARATION_CHECK_SECONDS: '2',
    }),
    { perPeer: 2, total: 8, retryMs: 60_000, maxEventChars: 2_000_000, cardRefreshMs: 300_000, cardTimeoutMs: 5000, declarationCheckMs: 2000 },
  );
});

t.test('a bad value is refused, naming the variable, its range and unit', async (t) => {
  t.throws(() => a2aServingSettings({ P2P_COMM_HOST_A2A_FORWARD_PER_PEER: '0' }), { message: 'P2P_COMM_HOST_A2A_FORWARD_PER_PEER must be a whole number of requests, 1-256, got "0"' });
  t.throws(() => a2aServingSettings({ P2P_COMM_HOST_A2A_CARD_TIMEOUT_SECONDS: '1.5' }), /P2P_COMM_HOST_A2A_CARD_TIMEOUT_SECONDS must be a whole number of seconds, 1-300/);
  t.throws(() => a2aServingSettings({ P2P_COMM_HOST_A2A_MAX_ANSWER_CHARS: '1000' }), /P2P_COMM_HOST_A2A_MAX_ANSWER_CHARS must be a whole number of characters, 1048576-67108864/);
});
