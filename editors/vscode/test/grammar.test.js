// Tests of the TextMate grammars in ../syntaxes, tokenized as VS Code does
// (vscode-textmate with the Oniguruma regex engine compiled to WebAssembly).
//
// Each file in fixtures/ is tokenized with the grammar of its extension and
// compared with fixtures/NAME.tokens: one line per token that is not only
// whitespace, `LINE:COLUMN "TEXT" SCOPES` (the scopes under the grammar's
// root, innermost last; `-` for none). Run with UPDATE_TOKENS=1 to rewrite
// the .tokens files after a deliberate change, and read their diff.
// The tests after the snapshots pin the scopes that were once wrong.
//
// Run: npm ci && npm test (or `cargo xtask test-vscode`, which does both).

"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { test } = require("node:test");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const ROOT = path.join(__dirname, "..");
const FIXTURES = path.join(__dirname, "fixtures");
const GRAMMARS = {
  ".cap": { scope: "source.cap", file: "syntaxes/cap.tmLanguage.json" },
  ".capsim": { scope: "source.capsim", file: "syntaxes/capsim.tmLanguage.json" },
};

const registry = new vsctm.Registry({
  onigLib: (async () => {
    const wasm = fs.readFileSync(
      path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")
    );
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
    return {
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    };
  })(),
  loadGrammar: async (scopeName) => {
    const entry = Object.values(GRAMMARS).find((g) => g.scope === scopeName);
    if (!entry) {
      return null;
    }
    const file = path.join(ROOT, entry.file);
    return vsctm.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
  },
});

/** The tokens of `text` under the grammar for `extension`: {line, column, text, scopes}. */
async function tokenize(text, extension) {
  const { scope } = GRAMMARS[extension];
  const grammar = await registry.loadGrammar(scope);
  assert.ok(grammar, `no grammar for ${scope}`);
  const tokens = [];
  let stack = vsctm.INITIAL;
  text.split("\n").forEach((line, index) => {
    const result = grammar.tokenizeLine(line, stack);
    for (const t of result.tokens) {
      const piece = line.slice(t.startIndex, t.endIndex);
      if (piece.trim() === "") {
        continue;
      }
      // Shown without the whitespace around it, at its first character.
      const lead = piece.length - piece.trimStart().length;
      tokens.push({
        line: index + 1,
        column: t.startIndex + lead + 1,
        text: piece.trim(),
        scopes: t.scopes.filter((s) => s !== scope),
      });
    }
    stack = result.ruleStack;
  });
  return tokens;
}

function render(tokens) {
  return tokens
    .map((t) => `${t.line}:${t.column} ${JSON.stringify(t.text)} ${t.scopes.join(" ") || "-"}\n`)
    .join("");
}

const fixtures = fs
  .readdirSync(FIXTURES)
  .filter((name) => path.extname(name) in GRAMMARS)
  .sort();

test("there are fixtures for every grammar", () => {
  for (const extension of Object.keys(GRAMMARS)) {
    assert.ok(
      fixtures.some((name) => path.extname(name) === extension),
      `no fixture for ${extension}`
    );
  }
  for (const name of fs.readdirSync(FIXTURES).filter((n) => n.endsWith(".tokens"))) {
    assert.ok(
      fixtures.includes(name.slice(0, -".tokens".length)),
      `${name} has no fixture`
    );
  }
});

for (const name of fixtures) {
  test(`tokens of ${name}`, async () => {
    const source = fs.readFileSync(path.join(FIXTURES, name), "utf8");
    const actual = render(await tokenize(source, path.extname(name)));
    const expectedFile = path.join(FIXTURES, `${name}.tokens`);
    if (process.env.UPDATE_TOKENS === "1") {
      fs.writeFileSync(expectedFile, actual);
      return;
    }
    assert.ok(
      fs.existsSync(expectedFile),
      `${name}.tokens is missing: run with UPDATE_TOKENS=1 and check it`
    );
    assert.equal(actual, fs.readFileSync(expectedFile, "utf8"), `tokens of ${name} changed`);
  });
}

/** The scopes of the `nth` token whose text is `text` in `source`. */
async function scopesOf(source, extension, text, nth = 0) {
  const found = (await tokenize(source, extension)).filter((t) => t.text === text);
  assert.ok(found.length > nth, `no token ${JSON.stringify(text)} (#${nth}) in ${source}`);
  return found[nth].scopes;
}

test("a method's `errors A, B;` names variants and declares nothing", async () => {
  const source = "invocations C -> E {\n    fn f() {\n        errors Bad, Worse;\n    }\n}\n";
  assert.deepEqual(await scopesOf(source, ".cap", "errors"), ["keyword.other.cap"]);
  assert.deepEqual(await scopesOf(source, ".cap", "Bad"), ["variable.other.enummember.cap"]);
  assert.deepEqual(await scopesOf(source, ".cap", "Worse"), ["variable.other.enummember.cap"]);
  // The declaration of a set still is one.
  const declared = "errors KernelError {\n    Bad,\n}\n";
  assert.deepEqual(await scopesOf(declared, ".cap", "errors"), ["storage.type.cap"]);
  assert.deepEqual(await scopesOf(declared, ".cap", "KernelError"), ["entity.name.type.cap"]);
});

test("a field named like a keyword is a field", async () => {
  const source = "cap C for O {\n    rights: rights(read),\n    size: u6,\n}\n";
  assert.deepEqual(await scopesOf(source, ".cap", "rights", 0), ["variable.other.member.cap"]);
  assert.deepEqual(await scopesOf(source, ".cap", "rights", 1), ["keyword.other.cap"]);
  assert.deepEqual(await scopesOf(source, ".cap", "size"), ["variable.other.member.cap"]);
});

test("constants are constants, not types", async () => {
  const source = "const PAGE_SIZE = 4096;\nconst TWO = 2 * PAGE_SIZE;\nobject Tcb { size = TWO; }\n";
  assert.deepEqual(await scopesOf(source, ".cap", "PAGE_SIZE", 1), ["variable.other.constant.cap"]);
  assert.deepEqual(await scopesOf(source, ".cap", "TWO", 1), ["variable.other.constant.cap"]);
  assert.deepEqual(await scopesOf(source, ".cap", "Tcb"), ["entity.name.type.cap"]);
});

test("only spaces join a number and its unit", async () => {
  assert.deepEqual(await scopesOf("const A = 4 KiB;\n", ".cap", "4 KiB"), ["constant.numeric.cap"]);
  assert.deepEqual(await scopesOf("const A = 4KiB;\n", ".cap", "4KiB"), ["constant.numeric.cap"]);
  const tab = "const A = 4\tKiB;\n";
  assert.deepEqual(await scopesOf(tab, ".cap", "4"), ["constant.numeric.cap"]);
  assert.notDeepEqual(await scopesOf(tab, ".cap", "KiB"), ["constant.numeric.cap"]);
});

test("capsim: statements, bindings, expectations", async () => {
  const source =
    "untyped ut0 = root[0] base 0x1000 bits 16\nretype ut0 Endpoint x 4 into root[8..12] => NotEnoughMemory { left: 16 }\n";
  assert.deepEqual(await scopesOf(source, ".capsim", "ut0", 0), ["entity.name.variable.capsim"]);
  assert.deepEqual(await scopesOf(source, ".capsim", "retype"), ["keyword.other.statement.capsim"]);
  assert.deepEqual(await scopesOf(source, ".capsim", "Endpoint"), ["entity.name.type.capsim"]);
  assert.deepEqual(await scopesOf(source, ".capsim", "=>"), ["keyword.operator.expectation.capsim"]);
  assert.deepEqual(await scopesOf(source, ".capsim", "NotEnoughMemory"), [
    "meta.expectation.capsim",
    "entity.name.type.error.capsim",
  ]);
});
