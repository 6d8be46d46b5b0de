import t from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard, withoutEmpty } from '../../extension/a2a/agent-card';
import { signCard } from '../../extension/a2a/signed-card';
import { P2pError } from '../../extension/common/errors';
import { cardSigner, sdkStyleCard } from '../helpers/agent-cards';

/** The sample card with `change` applied to a copy. */
function cardWith(change: (card: Record<string, any>) => void): Record<string, unknown> {
  const card = sdkStyleCard() as Record<string, any>;
  change(card);
  return card;
}

/** The refusal a2a_set_card would answer: INVALID_INPUT with the field's path and the rule. */
function refusalOf(input: unknown, limits = DEFAULT_AGENT_CARD_LIMITS): { message: string; path: string; rule: string } {
  try {
    normalizeAgentCard(input, limits);
  } catch (error) {
    if (!(error instanceof P2pError) || error.errorName !== 'INVALID_INPUT') throw error;
    return { message: error.message, ...(error.details as { path: string; rule: string }) };
  }
  throw new Error('the card was accepted');
}

t.test('an SDK-style card keeps what describes the agent, in the form the SDK signs', async (t) => {
  const card = normalizeAgentCard(sdkStyleCard());
  t.same(Object.keys(card).sort(), ['capabilities', 'defaultInputModes', 'defaultOutputModes', 'description', 'name', 'provider', 'skills', 'version']);
  t.notOk('documentationUrl' in card, 'an empty URL is dropped, as the SDK does');
  t.same(card.capabilities, {
    streaming: true,
    extensions: [{ uri: 'https://travel.example/ext/budget', description: 'Keeps to a budget', params: { currency: 'EUR', max_legs: 4, ratio: 0.5 } }],
  }, 'no pushNotifications; required:false and empty params left out');
  t.same(card.skills[0]?.tags, ['travel', 'planning'], 'an empty tag is dropped');
  t.notOk('inputModes' in (card.skills[0] ?? {}), 'an empty list is dropped');
  t.notOk('securityRequirements' in (card.skills[0] ?? {}));
  t.same(normalizeAgentCard(card), card, 'normalizing a normalized card changes nothing');
});

t.test('streaming is always written; an extension that is required says so', async (t) => {
  const card = normalizeAgentCard(cardWith((c) => {
    delete c.capabilities;
  }));
  t.same(card.capabilities, { streaming: false });
  const required = normalizeAgentCard(cardWith((c) => (c.capabilities.extensions[0].required = true)));
  t.equal(required.capabilities.extensions?.[0]?.required, true);
});

t.test('what A2A requires must be there and non-empty, and the refusal names it', async (t) => {
  const cases: [string, (card: Record<string, any>) => void, string, RegExp][] = [
    ['no name', (c) => delete c.name, '/card/name', /card\.name is required/],
    ['empty description', (c) => (c.description = ''), '/card/description', /card\.description is required and may not be empty/],
    ['no version', (c) => delete c.version, '/card/version', /card\.version is required/],
    ['no skills', (c) => (c.skills = []), '/card/skills', /card\.skills must hold at least one entry/],
    ['a skill without tags', (c) => (c.skills[1].tags = ['']), '/card/skills/1/tags', /card\.skills\[1\]\.tags must hold at least one entry/],
    ['a skill without id', (c) => delete c.skills[0].id, '/card/skills/0/id', /card\.skills\[0\]\.id is required/],
    ['no input mode', (c) => (c.defaultInputModes = []), '/card/defaultInputModes', /at least one entry/],
    ['no output mode', (c) => delete c.defaultOutputModes, '/card/defaultOutputModes', /at least one entry/],
    ['a provider without url', (c) => delete c.provider.url, '/card/provider/url', /card\.provider\.url is required/],
  ];
  for (const [what, change, path, message] of cases) {
    const refusal = refusalOf(cardWith(change));
    t.equal(refusal.path, path, what);
    t.match(refusal.message, message, what);
    t.match(refusal.message, /^agent card: /, `${what}: the message says it is about the card`);
  }
});

t.test('types: the refusal says what the field must be', async (t) => {
  t.match(refusalOf('a card').message, /card must be an object/);
  t.match(refusalOf(cardWith((c) => (c.name = 7))).message, /card\.name must be a string/);
  t.match(refusalOf(cardWith((c) => (c.skills = { a: 1 }))).message, /card\.skills must be a list/);
  t.match(refusalOf(cardWith((c) => (c.skills[0] = 'plan'))).message, /card\.skills\[0\] must be an object/);
  t.match(refusalOf(cardWith((c) => (c.capabilities.streaming = 'yes'))).message, /capabilities\.streaming must be true or false/);
  t.match(refusalOf(cardWith((c) => (c.capabilities.extensions[0].required = 1))).message, /extensions\[0\]\.required must be true or false/);
  t.match(refusalOf(cardWith((c) => (c.capabilities.extensions[0].params = [1]))).message, /params must be an object/);
});

t.test('text rules: the agent name is a display name; other text has no control characters', async (t) => {
  t.match(refusalOf(cardWith((c) => (c.name = 'Trip\u202Eplanner'))).message, /card\.name: the agent name must not contain control, .*U\+202E/);
  t.match(refusalOf(cardWith((c) => (c.name = 'x'.repeat(65)))).message, /card\.name: the agent name must be 1-64 characters long/);
  t.match(refusalOf(cardWith((c) => (c.description = 'Plans\u001b[31m trips'))).message, /card\.description may not hold control characters \(only line breaks, \\n, are allowed\); it holds U\+001B/);
  t.match(refusalOf(cardWith((c) => (c.description = 'Plans\r\ntrips'))).message, /U\+000D/, 'a carriage return is not a line break here');
  t.match(refusalOf(cardWith((c) => (c.skills[0].name = 'Plan\na trip'))).message, /card\.skills\[0\]\.name may not hold control characters; it holds U\+000A/, 'a name is one line');
  t.match(refusalOf(cardWith((c) => (c.skills[0].tags = ['tr\u0085avel']))).message, /tags\[0\] may not hold control characters; it holds U\+0085/, 'C1 controls too');
  t.match(refusalOf(cardWith((c) => (c.defaultInputModes = ['text/ plain']))).message, /defaultInputModes\[0\] may not hold control characters or whitespace/);
  t.match(refusalOf(cardWith((c) => (c.skills[0].id = 'plan trip'))).message, /skills\[0\]\.id may not hold control characters or whitespace/);
  t.equal(normalizeAgentCard(cardWith((c) => (c.skills[0].examples = ['Line one\nline two']))).skills[0]?.examples?.[0], 'Line one\nline two', 'an example may break lines');
  t.match(refusalOf(cardWith((c) => (c.description = 'a\ud800b'))).message, /card\.description holds an unpaired UTF-16 surrogate/);
});

t.test('URLs are absolute http or https', async (t) => {
  t.match(refusalOf(cardWith((c) => (c.documentationUrl = 'javascript:alert(1)'))).message, /card\.documentationUrl must be an absolute http or https URL/);
  t.match(refusalOf(cardWith((c) => (c.iconUrl = '/icon.png'))).message, /card\.iconUrl must be an absolute http or https URL/);
  t.equal(normalizeAgentCard(cardWith((c) => (c.iconUrl = 'https://travel.example/icon.png'))).iconUrl, 'https://travel.example/icon.png');
});

t.test('every limit, with the numbers in the message', async (t) => {
  const limits = DEFAULT_AGENT_CARD_LIMITS;
  t.match(refusalOf(cardWith((c) => (c.description = 'd'.repeat(limits.maxDescriptionLength + 1)))).message, /card\.description may hold at most 2000 characters, it has 2001/);
  t.equal(normalizeAgentCard(cardWith((c) => (c.description = '✈'.repeat(limits.maxDescriptionLength)))).description.length, 2000, 'characters, not bytes');
  const skill = { id: 's', name: 'S', description: 'S.', tags: ['t'] };
  t.match(refusalOf(cardWith((c) => (c.skills = Array.from({ length: limits.maxSkills + 1 }, () => skill)))).message, /card\.skills may hold at most 32 entries, it has 33/);
  t.match(refusalOf(cardWith((c) => (c.skills[0].tags = Array.from({ length: 17 }, (_, i) => `t${i}`)))).message, /tags may hold at most 16 entries/);
  t.match(refusalOf(cardWith((c) => (c.skills[0].tags = ['t'.repeat(65)]))).message, /tags\[0\] may hold at most 64 characters/);
  t.match(refusalOf(cardWith((c) => (c.skills[0].examples = Array.from({ length: 9 }, () => 'e')))).message, /examples may hold at most 8 entries/);
  t.match(refusalOf(cardWith((c) => (c.skills[0].examples = ['e'.repeat(501)]))).message, /examples\[0\] may hold at most 500 characters/);
  t.match(refusalOf(cardWith((c) => (c.defaultOutputModes = Array.from({ length: 17 }, (_, i) => `m/${i}`)))).message, /defaultOutputModes may hold at most 16 entries/);
  t.match(refusalOf(cardWith((c) => (c.capabilities.extensions = Array.from({ length: 17 }, () => ({ uri: 'urn:x' }))))).message, /extensions may hold at most 16 entries/);
  const nested = (levels: number): Record<string, unknown> => (levels === 1 ? { d: 1 } : { d: nested(levels - 1) });
  t.ok(normalizeAgentCard(cardWith((c) => (c.capabilities.extensions[0].params = nested(8)))), 'params 8 objects deep');
  t.match(refusalOf(cardWith((c) => (c.capabilities.extensions[0].params = nested(9)))).message, /params may nest at most 8 arrays and objects deep/);
  t.match(refusalOf(cardWith((c) => (c.securitySchemes = nested(40)))).message, /card\.securitySchemes\.d(\.d)+ nests deeper than \d+ arrays and objects/, 'a dropped field too, before anything recurses into it');
  t.match(refusalOf(cardWith((c) => (c.capabilities.extensions[0].params = JSON.parse('{"__proto__":{"a":1}}')))).message, /may not have a member named "__proto__"/);
  t.match(refusalOf(cardWith((c) => (c.description = 'd'.repeat(50))), { ...limits, maxDescriptionLength: 40 }).message, /at most 40 characters/, 'the limits are the caller’s');
});

t.test('signed, the card must fit what peers accept', async (t) => {
  const signer = cardSigner();
  const card = normalizeAgentCard(sdkStyleCard());
  const size = Buffer.byteLength(JSON.stringify(signCard(card, signer, 1 << 20)));
  t.throws(() => signCard(card, signer, size - 200), { errorName: 'INVALID_INPUT', message: /signed, it takes \d+ bytes; peers accept at most \d+ \(P2P_COMM_AGENT_CARD_MAX_BYTES\)/ });
});

t.test('withoutEmpty drops "", null, [] and {} at every depth, and what held only those', async (t) => {
  t.same(withoutEmpty({ a: '', b: null, c: [], d: {}, e: [{ f: '' }, 'x', ''], g: { h: { i: [] } }, j: 0, k: false }), { e: ['x'], j: 0, k: false });
  t.equal(withoutEmpty({ a: [[], {}] }), undefined);
});
