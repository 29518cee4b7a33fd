// Build the prebuilt labextension into ../explorer/labextension, without the network.
//
// JupyterLab 4.6 hands `jupyter labextension build` to `jupyter-builder`, which otherwise downloads
// @jupyterlab/core-meta (npm, then GitHub) to learn the core's shared packages. The installed JupyterLab
// already holds that file (jupyterlab/staging/package.json), and it is the one the extension must match,
// so we pass it with --core-package-file. We ask the Python that runs `jupyter-builder` for it: inside
// pip's isolated build that is the build environment's JupyterLab, elsewhere the active venv's.
// Usage: node scripts/build-labextension.mjs [--development]
//
// The built files are committed (so `pip install` from a clone needs no Node). After building, this script
// writes the SHA-256 of the sources it was built from into ../explorer/labextension/source.sha256;
// tests/test_labextension_current.py recomputes it and fails when the committed build is stale.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const development = process.argv.includes('--development');
const isWindows = process.platform === 'win32';

function which(name) {
  const exts = isWindows ? (process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      try {
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

// The interpreter a console script runs with: its shebang, or pip's `#!/bin/sh` + `'''exec' PY "$0"` form
// (used when the path is long or has spaces).
function interpreterOf(script) {
  let head;
  try {
    head = fs.readFileSync(script, { encoding: 'latin1' }).slice(0, 2048).split('\n');
  } catch {
    return null;
  }
  if (!head[0].startsWith('#!')) return null;
  const shebang = head[0].slice(2).trim();
  if (/^\/bin\/sh\b/.test(shebang)) {
    const m = /^'''exec' (?:'([^']+)'|(\S+)) "\$0"/.exec(head[1] || '');
    return m ? m[1] || m[2] : null;
  }
  if (/\benv\s+/.test(shebang)) return shebang.split(/\s+/).pop();
  return shebang;
}

function run(cmd, args) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const FIND_CORE = [
  'import os, jupyterlab',
  'print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging", "package.json"))'
].join('; ');

function corePackageFile(builder) {
  if (process.env.JUPYTERLAB_CORE_PACKAGE_FILE) return process.env.JUPYTERLAB_CORE_PACKAGE_FILE;
  const pythons = [interpreterOf(builder), 'python3', 'python'].filter(Boolean);
  for (const python of pythons) {
    const r = spawnSync(python, ['-c', FIND_CORE], { encoding: 'utf8' });
    const file = (r.stdout || '').trim();
    if (r.status === 0 && file && fs.existsSync(file)) return file;
  }
  return null;
}

const builder = which('jupyter-builder');
if (builder) {
  const core = corePackageFile(builder);
  const args = ['build'];
  if (development) args.push('--development');
  if (core) {
    args.push('--core-package-file', core);
  } else {
    console.warn('build-labextension: could not locate jupyterlab/staging/package.json; jupyter-builder will download core metadata');
  }
  run(builder, [...args, '.']);
} else {
  // JupyterLab < 4.6: the classic command builds against the installed core, offline.
  const jupyter = which('jupyter');
  if (!jupyter) {
    console.error('build-labextension: neither jupyter-builder nor jupyter is on PATH (activate the venv that has jupyterlab)');
    process.exit(1);
  }
  run(jupyter, ['labextension', 'build', ...(development ? ['--development', 'True'] : []), '.']);
}

// The sources' fingerprint: for each file (sorted by path), its path and the SHA-256 of its bytes.
// tests/test_labextension_current.py computes the same; keep the two in step.
const SOURCES = ['package.json', 'tsconfig.json', 'src', 'style'];
function filesUnder(p) {
  if (fs.statSync(p).isFile()) return [p];
  return fs.readdirSync(p).flatMap(name => filesUnder(path.join(p, name)));
}
const digest = crypto.createHash('sha256');
for (const file of SOURCES.flatMap(filesUnder).map(f => f.split(path.sep).join('/')).sort()) {
  const bytes = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  digest.update(`${file}\n${bytes}\n`);
}
fs.writeFileSync('../explorer/labextension/source.sha256', digest.digest('hex') + '\n');
