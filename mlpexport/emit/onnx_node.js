// Runs NAME.onnx in onnxruntime-node, or onnxruntime-web's wasm backend under Node.js,
// for mlpexport check (emit/onnx_runtimes.py): `node onnx_node.js [onnxruntime-web]`.
// stdin: {"model": path, "inputs": [{"name", "type", "shape", "data"}]}, data base64 of
// little-endian values ("float64", "float32") or a list of strings ("string").
// stdout: {"outputs": [{"name", "type", "shape", "data"}]} in the same encoding
// ("int64" base64 too, "bool" as base64 bytes). Errors: one line on stderr, exit 1.
"use strict";
const path = require("path");
const fs = require("fs");
const PACKAGE = process.argv[2] || "onnxruntime-node";
if (!["onnxruntime-node", "onnxruntime-web"].includes(PACKAGE)) {
  process.stderr.write(`unknown package ${PACKAGE}\n`);
  process.exit(1);
}
const WEB = PACKAGE === "onnxruntime-web";
const ort = require(PACKAGE);
if (WEB) {
  // one thread (no worker pool to outlive the run), and the .wasm files from the package's
  // own dist folder, wherever its node_modules is
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = path.dirname(require.resolve(PACKAGE)) + path.sep;
}

const ARRAYS = {float64: Float64Array, float32: Float32Array, int64: BigInt64Array,
                bool: Uint8Array};

function decode(t) {
  if (t.type === "string") return new ort.Tensor("string", t.data, t.shape);
  const bytes = Buffer.from(t.data, "base64");
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  return new ort.Tensor(t.type, new ARRAYS[t.type](copy), t.shape);
}

function encode(name, t) {
  const data = t.type === "string" ? Array.from(t.data)
    : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("base64");
  return {name, type: t.type, shape: t.dims, data};
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const session = WEB
    ? await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(request.model)),
                                        {executionProviders: ["wasm"]})
    : await ort.InferenceSession.create(request.model, {executionProviders: ["cpu"]});
  const feeds = {};
  for (const t of request.inputs) feeds[t.name] = decode(t);
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((n) => encode(n, results[n]));
  process.stdout.write(JSON.stringify({outputs}));
}

main().catch((e) => {
  process.stderr.write(String(e && e.message ? e.message : e).split("\n")[0] + "\n");
  process.exit(1);
});
