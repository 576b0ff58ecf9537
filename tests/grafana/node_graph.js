// Runs a dashboard panel's Prometheus responses through Grafana's own frontend code and prints the frames the
// panel receives, as JSON on stdout. Used by tests/unit (test__exporter.py); installed by install.sh.
//
//   node node_graph.js CACHE DASHBOARD.json PANEL_TYPE REFID=RESPONSE.json ...
//
// 1. Each RESPONSE.json is a Prometheus /api/v1/query response (resultType vector). Grafana's backend (Go,
//    pkg/promlib/converter ReadPrometheusStyleResult plus querydata addMetadataToMultiFrame) turns it into one
//    frame per sample: Time, Value (labels = the sample's metric), meta type numeric-multi. That Go code cannot
//    run here, so toWireFrames below writes those frames in the wire format the backend sends the browser; it
//    is the one step that is not Grafana's code.
// 2. Grafana's code from here on: dataFrameFromJSON (@grafana/data) decodes them; transformV2 from
//    @grafana/prometheus's result_transformer (what the Prometheus datasource's query() calls) merges each
//    format=table query into one table frame; transformDataFrame (@grafana/data) applies the panel's
//    transformations as the dashboard stores them, with Grafana's standard transformers registered.
"use strict";
const fs = require("fs");
const path = require("path");
const Module = require("module");

const [cache, dashboardPath, panelType, ...pairs] = process.argv.slice(2);
const nodeModules = path.join(path.resolve(cache), "node_modules");
const load = (name) => require(require.resolve(name, { paths: [nodeModules] }));
const data = load("@grafana/data");
const { lastValueFrom } = load("rxjs");

// result_transformer.cjs needs @grafana/runtime only for getDataSourceSrv (exemplar data links), which a table
// query never reaches; @grafana/runtime itself pulls in @grafana/ui. Anything it is asked for throws.
const runtime = new Proxy({}, {
  get(_t, key) {
    if (key === "__esModule") return undefined;
    throw new Error(`@grafana/runtime.${String(key)} used: this test does not provide @grafana/runtime`);
  },
});
const shared = { "@grafana/runtime": "@grafana/runtime" };
for (const name of ["@grafana/data", "lodash"]) shared[name] = require.resolve(name, { paths: [nodeModules] });
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return shared[request] ?? resolveFilename.call(this, request, ...rest);
};
require.cache["@grafana/runtime"] = { id: "@grafana/runtime", filename: "@grafana/runtime", loaded: true, exports: runtime };
const promDir = path.join(path.resolve(cache), "tarballs", "@grafana", "prometheus", "package");
const { transformV2 } = require(path.join(promDir, "dist", "cjs", "result_transformer.cjs"));

function toWireFrames(refId, response) {
  if (response.status !== "success" || response.data.resultType !== "vector") {
    throw new Error(`${refId}: expected a successful vector response, got ${JSON.stringify(response).slice(0, 200)}`);
  }
  return response.data.result.map((sample) => {
    const [ts, text] = sample.value;
    const value = Number(text);
    const entities = Number.isNaN(value) ? { NaN: [0] } : value === Infinity ? { Inf: [0] } : value === -Infinity ? { NegInf: [0] } : null;
    return {
      schema: {
        refId,
        meta: { type: "numeric-multi", typeVersion: [0, 1], custom: { resultType: "vector" } },
        fields: [
          { name: "Time", type: "time", typeInfo: { frame: "time.Time" } },
          { name: sample.metric.__name__ ?? "Value", type: "number", typeInfo: { frame: "float64" }, labels: sample.metric },
        ],
      },
      data: { values: [[Math.trunc(ts * 1000)], [entities ? null : value]], ...(entities && { entities: [null, entities] }) },
    };
  });
}

async function main() {
  const dashboard = JSON.parse(fs.readFileSync(dashboardPath, "utf8"));
  const panel = dashboard.panels.find((p) => p.type === panelType);
  const frames = [];
  for (const pair of pairs) {
    const [refId, file] = pair.split(/=(.*)/s);
    if (!panel.targets.some((t) => t.refId === refId)) throw new Error(`the panel has no query ${refId}`);
    frames.push(...toWireFrames(refId, JSON.parse(fs.readFileSync(file, "utf8"))).map(data.dataFrameFromJSON));
  }
  const response = transformV2({ data: frames }, { targets: panel.targets, app: "dashboard" }, {});
  // Grafana's standard transformers, registered as the app does at start (features/transformers/
  // standardTransformers.ts: each one loaded lazily), without the editors; standardTransformers lists some
  // under two keys.
  const transformers = new Map(Object.values(data.standardTransformers).map((t) => [t.id, t]));
  data.standardTransformersRegistry.setInit(() =>
    [...transformers.values()].map((t) => ({ id: t.id, aliasIds: t.aliasIds, name: t.name, transformation: async () => t }))
  );
  // transformDataFrame reads window.__grafanaSceneContext (set in a browser by scenes dashboards, which interpolate
  // variables before): without it, options are interpolated with the default context, which changes nothing;
  // the panel's transformations have no variables to interpolate anyway.
  if (JSON.stringify(panel.transformations ?? []).includes("$")) throw new Error("transformations use a variable");
  globalThis.window ??= {};
  const series = await lastValueFrom(data.transformDataFrame(panel.transformations ?? [], response.data));
  const out = {
    nodeGraphFieldNames: data.NodeGraphDataFrameFieldNames,
    tableFrames: response.data.map((f) => ({ refId: f.refId, fields: f.fields.map((x) => x.name) })),
    series: series.map((f) => ({
      refId: f.refId,
      name: f.name ?? null,
      length: f.length,
      fields: f.fields.map((x) => ({ name: x.name, type: x.type, values: Array.from(x.values), labels: x.labels ?? null })),
    })),
  };
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
