// bpe_oracle.mjs: the oracle for trained tokenizers. Loads an arbitrary tokenizer.json with
// @lenml/tokenizers (TokenizerLoader.fromPreTrained with a minimal tokenizer_config, the base
// PreTrainedTokenizer class) and writes the ids of every case of a corpus, one line of
// space-separated ids per case, without BOS/EOS, so tests/test_bpe_train.c can compare them
// with um_tokenizer_encode token for token.
//
// Usage: node tests/oracle/bpe_oracle.mjs --node-modules DIR --tokenizer FILE --corpus FILE
//                                         --out FILE
// Corpus format: as tok_oracle.mjs: one case per line ('\n' separated, a final newline ends the
// last case), with the escapes \n \t \r \\ decoded.
// Exit status: 0 on success, 1 if the modules or files cannot be loaded, 2 on usage errors.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { decodeEscapes } from "./tok_oracle.mjs";

function usage(msg) {
  process.stderr.write(`bpe_oracle: ${msg}\n` +
    "usage: node bpe_oracle.mjs --node-modules DIR --tokenizer FILE --corpus FILE --out FILE\n");
  process.exit(2);
}

function parseArgs(argv) {
  const keys = ["node-modules", "tokenizer", "corpus", "out"];
  const a = {};
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    if (keys.includes(k.slice(2)) && k.startsWith("--")) {
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      a[k.slice(2)] = argv[++i];
    } else {
      usage(`unknown argument '${k}'`);
    }
  }
  for (const k of keys) if (!a[k]) usage(`--${k} is required`);
  return a;
}

async function main() {
  const args = parseArgs(process.argv);
  const pkgDir = path.join(args["node-modules"], "@lenml", "tokenizers");
  const pkgJson = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const entry = pkgJson.exports?.["."]?.import ?? pkgJson.module;
  const mod = await import(pathToFileURL(path.join(pkgDir, entry)).href);
  const tokenizerJSON = JSON.parse(fs.readFileSync(args.tokenizer, "utf8"));
  const tok = mod.TokenizerLoader.fromPreTrained({
    tokenizerJSON,
    tokenizerConfig: { tokenizer_class: "PreTrainedTokenizer" },
  });
  const text = fs.readFileSync(args.corpus, "utf8");
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const out = [];
  for (const line of lines) {
    const ids = tok.encode(decodeEscapes(line), { add_special_tokens: false });
    out.push(ids.join(" "));
  }
  fs.writeFileSync(args.out, out.join("\n") + "\n");
  process.stdout.write(`bpe_oracle: @lenml/tokenizers ${pkgJson.version}, ${lines.length} cases\n`);
}

main().catch((e) => {
  process.stderr.write(`bpe_oracle: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
