import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..', '..');
const webview = join(root, 'webview');
const library = join(root, 'node_modules', '@vscode-elements', 'elements', 'dist');

/** Every .ts file below `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The vscode-elements tags the pages create (`h('vscode-…'`, `createElement('vscode-…'`). */
function createdTags(): Set<string> {
  const tags = new Set<string>();
  for (const file of sources(webview)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:\bh|createElement)\(\s*'(vscode-[a-z-]+)'/g)) tags.add(m[1]!);
  }
  return tags;
}

/** The components webview/shared/elements.ts imports (by the library's folder, which is the tag). */
function importedTags(): string[] {
  const text = readFileSync(join(webview, 'shared', 'elements.ts'), 'utf8');
  return [...text.matchAll(/^import '@vscode-elements\/elements\/dist\/(vscode-[a-z-]+)\/index\.js';$/gm)].map((m) => m[1]!);
}

describe('Webview components bundle', () => {
  it('imports every component the pages create, and no other', () => {
    const created = createdTags();
    // The pages' own code names at least the buttons, selects and tabs.
    for (const tag of ['vscode-button', 'vscode-single-select', 'vscode-option', 'vscode-tabs', 'vscode-tab-header']) assert.ok(created.has(tag), `${tag} is created somewhere`);
    assert.deepEqual([...importedTags()].sort(), [...created].sort());
  });

  it('is imported first by every page, which is one script', () => {
    for (const page of ['inspector', 'sidePanel', 'abPanel']) {
      const text = readFileSync(join(webview, page, 'main.ts'), 'utf8');
      const first = text.match(/^import .*$/m)?.[0];
      assert.equal(first, "import '../shared/elements';", `${page} imports the components before anything else`);
    }
  });

  it('names modules that define those tags', () => {
    for (const tag of importedTags()) {
      const dir = join(library, tag);
      assert.ok(existsSync(join(dir, 'index.js')), `${tag}/index.js exists`);
      const defined = readdirSync(dir)
        .filter((f) => f.endsWith('.js'))
        .some((f) => readFileSync(join(dir, f), 'utf8').includes(`customElement('${tag}')`));
      assert.ok(defined, `${tag} is defined by its module`);
    }
  });
});
