// ref.mjs: expected ids from Hugging Face's JS tokenizer. Usage:
//   node ref.mjs TOKENIZERS_MJS TOKENIZER_DIR CORPUS.jsonl > expected.jsonl
// Each corpus line is a JSON string; each output line is
//   {"a": ids with special tokens, "b": ids without, "da": decode(a), "das": decode(a) skipping
//    special tokens, "db": decode(b), "added": whether the text contains an added token}
// Decoding uses clean_up_tokenization_spaces=false: slimscope decodes exactly.
import fs from 'fs';
import { pathToFileURL } from 'url';
const [mjs, dir, corpus] = process.argv.slice(2);
const { Tokenizer } = await import(pathToFileURL(mjs).href);
const tj = JSON.parse(fs.readFileSync(dir + '/tokenizer.json', 'utf8'));
const cfgPath = dir + '/tokenizer_config.json';
const tc = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, 'utf8')) : {};
const tok = new Tokenizer(tj, tc);
const added = (tj.added_tokens || []).map((x) => x.content).filter((x) => x.length > 0);
const dec = (ids, skip) => (ids.length ? tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }) : '');
const out = [];
for (const line of fs.readFileSync(corpus, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const text = JSON.parse(line);
  const a = tok.encode(text, { add_special_tokens: true }).ids;
  const b = tok.encode(text, { add_special_tokens: false }).ids;
  out.push(JSON.stringify({ a, b, da: dec(a, false), das: dec(a, true), db: dec(b, false), added: added.some((x) => text.includes(x)) }));
}
process.stdout.write(out.join('\n') + '\n');
