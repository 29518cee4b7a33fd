// Remove the compiled TypeScript and the built labextension (what `jlpm build:prod` starts from).
import fs from 'node:fs';

for (const p of ['lib', 'tsconfig.tsbuildinfo', '../explorer/labextension']) {
  fs.rmSync(p, { recursive: true, force: true });
}
