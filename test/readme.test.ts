import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const root = join(__dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

t.test('every README table is one block: a blank line never splits one', async (t) => {
  const lines = readme.split('\n');
  lines.forEach((line, index) => {
    if (!line.startsWith('|') || index === 0 || lines[index - 1]?.startsWith('|') === true) return;
    // The first row of a block must be a header, followed by its separator.
    t.match(lines[index + 1] ?? '', /^\|(---\|)+$/, `README line ${index + 1} starts a table without a header: ${line.slice(0, 60)}`);
  });
});

t.test('every environment setting the extension reads is in the configuration tables', async (t) => {
  const config = readFileSync(join(root, 'extension', 'config.ts'), 'utf8');
  const variables = new Set(config.match(/P2P_COMM_[A-Z_]+/g) ?? []);
  t.ok(variables.size > 20);
  for (const variable of variables) t.match(readme, new RegExp(`\\| [^\\n]*\`${variable}\``), variable);
});
