// The Trireme console. Every DynamoDB, Streams and Lambda request goes from
// this page to the router's ordinary endpoints (plain DynamoDB JSON POSTs to
// "/", the Lambda REST API), so the boto3 and CLI code shown beside it is
// what the page really did. /console/api/ answers only what DynamoDB's API
// does not: the cluster's nodes and partitions (one server-sent event stream
// per page), chaos actions, the capacity history.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const ENDPOINT = location.origin;
let REGION = "us-east-1";
const state = { tables: {}, cluster: null, lastKey: null, requests: [] };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// --- requests, and the code that makes them ------------------------------------

class RequestError extends Error {
  constructor(type, message) { super(`${type}: ${message}`); this.type = type; }
}

function record(service, operation, params, error) {
  const entry = { service, operation, params, error, at: new Date() };
  state.requests.unshift(entry);
  state.requests.length = Math.min(state.requests.length, 50);
  showRequest(entry);
  renderRequestLog();
}

async function call(service, operation, params = {}) {
  const res = await SigV4.signedFetch("/", {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": `${service}.${operation}` },
    body: JSON.stringify(params),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const type = (body.__type || "Error").split("#").pop();
    const err = new RequestError(type, body.message || body.Message || res.statusText);
    record(service, operation, params, err.message);
    throw err;
  }
  record(service, operation, params, null);
  return body;
}

const ddb = (op, params) => call("DynamoDB_20120810", op, params);
const streams = (op, params) => call("DynamoDBStreams_20120810", op, params);

// The Lambda REST API: `operation` and `params` name the boto3 call it is.
async function lambda(operation, params, path) {
  const res = await SigV4.signedFetch(path, {}, "lambda");
  const body = await res.json().catch(() => ({}));
  record("lambda", operation, params, res.ok ? null : (body.message || body.Message || res.statusText));
  if (!res.ok) throw new RequestError(body.Type || "Error", body.message || body.Message || res.statusText);
  return body;
}

async function consoleApi(path, body) {
  const res = await SigV4.signedFetch("/console/api/" + path, body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const out = await res.json();
  if (!res.ok) throw new RequestError(out.__type || "Error", out.message);
  return out;
}

function showRequest(entry) {
  const box = $("#request-shown");
  box.replaceChildren();
  const b3 = Codegen.boto3(entry.service, entry.operation, entry.params, ENDPOINT, REGION);
  const cl = Codegen.cli(entry.service, entry.operation, entry.params, ENDPOINT, REGION);
  box.append(el("h3", {}, entry.operation, entry.error ? el("span", { class: "error-text" }, " failed") : ""));
  if (entry.error) box.append(el("div", { class: "error-text", id: "last-error" }, entry.error));
  for (const [name, code, id] of [["boto3", b3, "code-boto3"], ["AWS CLI", cl, "code-cli"]]) {
    box.append(el("div", { class: "code-head" }, el("b", {}, name),
      el("button", { onclick: () => navigator.clipboard && navigator.clipboard.writeText(code) }, "Copy")));
    box.append(el("pre", { id }, code));
  }
}

function renderRequestLog() {
  $("#request-log").replaceChildren(...state.requests.map((r) => el("li", {
    class: r.error ? "error" : "", onclick: () => showRequest(r),
  }, `${r.at.toLocaleTimeString()} ${r.operation}` + (r.params.TableName ? ` ${r.params.TableName}` : ""))));
}

// A failed request is already shown in the request panel, with its error; anything else is said there too.
function fail(err) {
  if (err instanceof RequestError) return;
  console.error(err);
  $("#request-shown").prepend(el("div", { class: "error-text" }, String(err.message || err)));
}

// --- DynamoDB JSON <-> plain JSON ----------------------------------------------

function marshal(v) {
  if (v === null) return { NULL: true };
  if (typeof v === "string") return { S: v };
  if (typeof v === "number") return { N: String(v) };
  if (typeof v === "boolean") return { BOOL: v };
  if (Array.isArray(v)) return { L: v.map(marshal) };
  return { M: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, marshal(x)])) };
}

function unmarshal(a) {
  const [t, v] = Object.entries(a)[0];
  switch (t) {
    case "S": case "B": return v;
    case "N": return Number(v);
    case "BOOL": return v;
    case "NULL": return null;
    case "L": return v.map(unmarshal);
    case "M": return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unmarshal(x)]));
    case "SS": case "BS": return v;
    case "NS": return v.map(Number);
    default: return v;
  }
}

const toPlain = (item) => Object.fromEntries(Object.entries(item).map(([k, v]) => [k, unmarshal(v)]));
const toDdb = (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, marshal(v)]));

function show(a) {
  const [t, v] = Object.entries(a)[0];
  if (t === "M" || t === "L") return JSON.stringify(unmarshal(a));
  if (Array.isArray(v)) return `${t} ${JSON.stringify(v)}`;
  return String(v);
}

// --- tabs ------------------------------------------------------------------------

function openTab(name) {
  $$("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  $$(".tab").forEach((s) => { s.hidden = s.id !== `tab-${name}`; });
  if (name === "streams") loadStreams().catch(fail);
  if (name === "capacity") { loadCost().catch(fail); loadCapacity().catch(fail); }
  if (name === "items") fillBrowseTables();
}

// --- tables ----------------------------------------------------------------------

const fmtBytes = (n) => n == null ? "-" : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`;

function keysOf(schema) {
  return schema.map((k) => `${k.AttributeName} (${k.KeyType === "HASH" ? "partition" : "sort"})`).join(", ");
}

async function loadTables() {
  const names = [];
  let start;
  do {
    const out = await ddb("ListTables", start ? { ExclusiveStartTableName: start } : {});
    names.push(...out.TableNames);
    start = out.LastEvaluatedTableName;
  } while (start);
  const described = await Promise.all(names.map(async (n) => {
    const [d, ttl] = await Promise.all([ddb("DescribeTable", { TableName: n }),
      ddb("DescribeTimeToLive", { TableName: n }).catch(() => null)]);
    return [n, { ...d.Table, ttl: ttl && ttl.TimeToLiveDescription }];
  }));
  state.tables = Object.fromEntries(described);
  renderTables();
  fillBrowseTables();
}

function renderTables() {
  const rows = Object.values(state.tables).map((t) => {
    const pt = t.ProvisionedThroughput || {};
    const billing = (t.BillingModeSummary || {}).BillingMode === "PAY_PER_REQUEST" ? "on-demand"
      : `${pt.ReadCapacityUnits} RCU / ${pt.WriteCapacityUnits} WCU`;
    const idx = [...(t.GlobalSecondaryIndexes || []).map((g) => `GSI ${g.IndexName}: ${keysOf(g.KeySchema)}`),
                 ...(t.LocalSecondaryIndexes || []).map((l) => `LSI ${l.IndexName}: ${keysOf(l.KeySchema)}`)];
    const stream = t.StreamSpecification && t.StreamSpecification.StreamEnabled ? t.StreamSpecification.StreamViewType : "off";
    const ttl = t.ttl && t.ttl.TimeToLiveStatus === "ENABLED" ? `on (${t.ttl.AttributeName})` : "off";
    return el("tr", { "data-table": t.TableName }, el("td", {}, t.TableName), el("td", {}, t.TableStatus),
      el("td", {}, keysOf(t.KeySchema)), el("td", {}, idx.length ? idx.join("; ") : "-"), el("td", {}, stream),
      el("td", {}, ttl), el("td", {}, billing), el("td", {}, t.ItemCount), el("td", {}, fmtBytes(t.TableSizeBytes)),
      el("td", {}, el("button", { onclick: () => browse(t.TableName) }, "Items"), " ",
        el("button", { class: "danger", onclick: () => deleteTable(t.TableName) }, "Delete")));
  });
  $("#tables-list tbody").replaceChildren(...rows);
}

async function createTable(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const attrs = [{ AttributeName: f.get("pk"), AttributeType: f.get("pktype") }];
  const keys = [{ AttributeName: f.get("pk"), KeyType: "HASH" }];
  if (f.get("sk")) {
    attrs.push({ AttributeName: f.get("sk"), AttributeType: f.get("sktype") });
    keys.push({ AttributeName: f.get("sk"), KeyType: "RANGE" });
  }
  const params = { TableName: f.get("name"), AttributeDefinitions: attrs, KeySchema: keys, BillingMode: f.get("billing") };
  if (f.get("billing") === "PROVISIONED") {
    params.ProvisionedThroughput = { ReadCapacityUnits: Number(f.get("rcu")), WriteCapacityUnits: Number(f.get("wcu")) };
  }
  if (f.get("stream")) params.StreamSpecification = { StreamEnabled: true, StreamViewType: f.get("stream") };
  try {
    await ddb("CreateTable", params);
  } catch (e) { return fail(e); }
  await waitForStatus(params.TableName, (t) => t && t.TableStatus === "ACTIVE");
}

async function waitForStatus(name, done) {
  for (let i = 0; i < 120; i++) {
    await loadTables();
    if (done(state.tables[name])) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function deleteTable(name) {
  if (!confirm(`Delete table ${name} and all its items?`)) return;
  try {
    await ddb("DeleteTable", { TableName: name });
  } catch (e) { return fail(e); }
  await waitForStatus(name, (t) => !t);
}

// --- item browser -----------------------------------------------------------------

function fillBrowseTables() {
  const sel = $("#browse-table");
  const current = sel.value;
  sel.replaceChildren(...Object.keys(state.tables).map((n) => el("option", { value: n }, n)));
  if (current && state.tables[current]) sel.value = current;
  fillIndexes();
}

function schemaOf() {
  const t = state.tables[$("#browse-table").value];
  if (!t) return null;
  const index = $("#browse-index").value;
  const all = [...(t.GlobalSecondaryIndexes || []), ...(t.LocalSecondaryIndexes || [])];
  const ks = index ? (all.find((i) => i.IndexName === index) || {}).KeySchema : t.KeySchema;
  const types = Object.fromEntries(t.AttributeDefinitions.map((a) => [a.AttributeName, a.AttributeType]));
  const hash = ks.find((k) => k.KeyType === "HASH").AttributeName;
  const range = (ks.find((k) => k.KeyType === "RANGE") || {}).AttributeName;
  return { table: t, hash, range, types, tableKeys: t.KeySchema.map((k) => k.AttributeName) };
}

function fillIndexes() {
  const t = state.tables[$("#browse-table").value];
  const sel = $("#browse-index");
  const names = t ? [...(t.GlobalSecondaryIndexes || []), ...(t.LocalSecondaryIndexes || [])].map((i) => i.IndexName) : [];
  sel.replaceChildren(el("option", { value: "" }, "(table)"), ...names.map((n) => el("option", { value: n }, n)));
  showKeyNames();
}

function showKeyNames() {
  const s = schemaOf();
  $("#pk-name").textContent = s ? s.hash : "partition key";
  $("#sk-name").textContent = s && s.range ? s.range : "(no sort key)";
}

function browse(table) {
  openTab("items");
  $("#browse-table").value = table;
  fillIndexes();
  $("input[name=mode][value=Scan]").checked = true;
  runBrowse(null).catch(fail);
}

function typed(type, text) {
  return type === "N" ? { N: String(text).trim() } : type === "B" ? { B: text } : { S: text };
}

// The Query or Scan the form describes, from `start` (a LastEvaluatedKey) on.
function browseRequest(start) {
  const f = new FormData($("#browse"));
  const s = schemaOf();
  const mode = f.get("mode");
  const p = { TableName: s.table.TableName };
  const names = {};
  const values = {};
  if (f.get("index")) p.IndexName = f.get("index");
  if (mode === "Query") {
    names["#pk"] = s.hash;
    values[":pk"] = typed(s.types[s.hash], f.get("pkval"));
    let cond = "#pk = :pk";
    const op = f.get("skop");
    if (op && s.range) {
      names["#sk"] = s.range;
      values[":sk"] = typed(s.types[s.range], f.get("skval"));
      if (op === "between") {
        values[":sk2"] = typed(s.types[s.range], f.get("skval2"));
        cond += " AND #sk BETWEEN :sk AND :sk2";
      } else if (op === "begins_with") cond += " AND begins_with(#sk, :sk)";
      else cond += ` AND #sk ${op} :sk`;
    }
    p.KeyConditionExpression = cond;
    if (f.get("backward")) p.ScanIndexForward = false;
  }
  const fa = f.get("filter_attr").trim();
  if (fa) {
    names["#f"] = fa;
    const fop = f.get("filter_op");
    const raw = f.get("filter_val");
    const val = raw !== "" && !isNaN(Number(raw)) ? { N: raw.trim() } : { S: raw };
    if (fop === "attribute_exists" || fop === "attribute_not_exists") p.FilterExpression = `${fop}(#f)`;
    else {
      values[":f"] = val;
      p.FilterExpression = fop === "begins_with" || fop === "contains" ? `${fop}(#f, :f)` : `#f ${fop} :f`;
    }
  }
  const proj = f.get("projection").split(",").map((x) => x.trim()).filter(Boolean);
  if (proj.length) {
    p.ProjectionExpression = proj.map((a, i) => { names[`#p${i}`] = a; return `#p${i}`; }).join(", ");
  }
  if (Object.keys(names).length) p.ExpressionAttributeNames = names;
  if (Object.keys(values).length) p.ExpressionAttributeValues = values;
  if (f.get("limit")) p.Limit = Number(f.get("limit"));
  if (f.get("consistent")) p.ConsistentRead = true;
  if (start) p.ExclusiveStartKey = start;
  return [mode, p];
}

async function runBrowse(start) {
  if (!schemaOf()) return;
  const [mode, params] = browseRequest(start);
  const out = await ddb(mode, params);
  state.lastKey = out.LastEvaluatedKey || null;
  $("#next-page").disabled = !state.lastKey;
  $("#page-info").textContent = `${out.Count} items (scanned ${out.ScannedCount})` +
    (state.lastKey ? "; more: LastEvaluatedKey " + JSON.stringify(state.lastKey) : "");
  renderItems(out.Items || []);
}

function renderItems(items) {
  const s = schemaOf();
  const cols = [...new Set([...s.tableKeys, ...items.flatMap((i) => Object.keys(i))])];
  $("#items thead").replaceChildren(el("tr", {}, ...cols.map((c) => el("th", {}, c))));
  $("#items tbody").replaceChildren(...items.map((item) => el("tr", { onclick: () => edit(item) },
    ...cols.map((c) => el("td", {}, item[c] ? show(item[c]) : "")))));
}

let editing = {};

function edit(item) {
  editing = item;
  writeEditor(item);
}

function writeEditor(item) {
  const plain = $("input[name=format]:checked").value === "plain";
  $("#editor").value = JSON.stringify(plain ? toPlain(item) : item, null, 2);
}

function readEditor() {
  const plain = $("input[name=format]:checked").value === "plain";
  const value = JSON.parse($("#editor").value);
  return plain ? toDdb(value) : value;
}

// Run `act(schema, item)` with the editor's item, or say why the item cannot be read.
async function withEditorItem(act) {
  const s = schemaOf();
  if (!s) return;
  let item;
  try {
    item = readEditor();
  } catch (e) { return fail(new Error(`The item is not valid JSON: ${e.message}`)); }
  try {
    await act(s, item);
  } catch (e) { fail(e); }
}

const putItem = () => withEditorItem(async (s, item) => {
  await ddb("PutItem", { TableName: s.table.TableName, Item: item });
  editing = item;
});

const deleteItem = () => withEditorItem(async (s, item) => {
  const key = Object.fromEntries(s.tableKeys.filter((k) => item[k]).map((k) => [k, item[k]]));
  await ddb("DeleteItem", { TableName: s.table.TableName, Key: key });
  await runBrowse(null);
});

// --- cluster (live) ------------------------------------------------------------------

async function connectLive() {
  const source = new EventSource(await SigV4.eventUrl("/console/api/events"));
  source.addEventListener("state", (ev) => {
    state.cluster = JSON.parse(ev.data);
    $("#live").textContent = "live";
    $("#live").classList.add("live");
    renderCluster();
  });
  source.onerror = () => {
    $("#live").textContent = "reconnecting";
    $("#live").classList.remove("live");
    if (SigV4.credentials()) { // a presigned URL expires: reconnect with a fresh one
      source.close();
      setTimeout(() => connectLive().catch(fail), 2000);
    }
  };
}

function faultText(f) {
  const parts = [];
  if (f.drop_to) parts.push(`drops to ${f.drop_to.join(",")}`);
  if (f.drop_from) parts.push(`drops from ${f.drop_from.join(",")}`);
  if (f.delay_ms) parts.push(`+${f.delay_ms} ms`);
  if (f.jitter_ms) parts.push(`jitter ${f.jitter_ms} ms`);
  if (f.loss) parts.push(`loses ${Math.round(f.loss * 100)}%`);
  if (f.clock_rate) parts.push(`clock x${f.clock_rate}`);
  return parts.join("; ");
}

function renderCluster() {
  const c = state.cluster;
  if (!c || !c.nodes) return;
  $("#meta-version").textContent = `region ${c.region}, metadata version ${c.version}, seen ${new Date(c.at * 1000).toLocaleTimeString()}`;
  const byAz = {};
  for (const n of c.nodes) (byAz[`${n.region} / ${n.az}`] ||= []).push(n);
  for (const sel of ["#cut-from", "#cut-to"]) {
    const box = $(sel);
    const ids = c.nodes.map((n) => n.id);
    if (box.options.length !== ids.length) box.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
  }
  $("#nodes").replaceChildren(...Object.entries(byAz).sort().map(([az, nodes]) => el("div", { class: "az" },
    el("h3", {}, az), ...nodes.map((n) => {
      const faults = faultText(n.faults);
      return el("div", { class: "node" + (n.reachable ? "" : " down") + (faults ? " faulty" : ""), "data-node": n.id },
        el("b", {}, n.id), " ", el("small", {}, n.addr), el("br"),
        n.reachable ? `${n.state}, ${n.replicas} replicas, up ${Math.round(n.uptime_s)} s`
          : el("span", { class: "down-text" }, `not answering: ${n.error}`),
        faults ? el("div", { class: "fault" }, faults) : "",
        el("div", {}, el("button", { onclick: () => chaos({ action: "isolate", node: n.id }) }, "Isolate")));
    }))));
  $("#partitions tbody").replaceChildren(...c.partitions.map((p) => el("tr", { "data-partition": p.id },
    el("td", {}, p.id + (p.parent ? ` (from ${p.parent})` : "")), el("td", {}, p.table),
    el("td", {}, el("code", {}, `${p.lo.slice(0, 6)}..${p.hi.slice(0, 6)}`)),
    el("td", { class: "leader-cell" }, p.leader ? el("span", { class: "leader" }, p.leader) : el("span", { class: "down-text" }, "none")),
    el("td", {}, p.term ?? "-"), el("td", {}, p.commit ?? "-"), el("td", {}, p.applied ?? "-"),
    el("td", {}, ...p.replicas.map((r) => el("div", {},
      r.up ? `${r.node}${r.voter ? "" : " (learner)"}: ${r.role.toLowerCase()} ${r.applied}` + (r.lag ? `, lag ${r.lag}` : "")
        : el("span", { class: "down-text" }, `${r.node}: no answer`)))),
    el("td", {}, p.leader ? el("button", { onclick: () => chaos({ action: "step_down", partition: p.id }) }, "Step down") : ""))));
  $("#replication-box").hidden = !(c.replication || []).length;
  $("#replication tbody").replaceChildren(...(c.replication || []).map((r) => el("tr", {},
    el("td", {}, r.table), el("td", {}, r.region), el("td", {}, `${Math.round(r.lag_ms)} ms`))));
  $$(".trigger-position").forEach((td) => { td.textContent = triggerPosition(td.dataset.uuid); });
  $("#timeline").replaceChildren(...(c.timeline || []).slice(0, 200).map((e) => el("li", { class: e.kind },
    el("span", { class: "kind" }, `${new Date(e.at * 1000).toLocaleTimeString()} ${e.kind}`), " ", e.text)));
}

async function chaos(body) {
  try {
    const out = await consoleApi("chaos", body);
    const failed = Object.entries(out.nodes || {}).filter(([, a]) => a && a.error);
    const box = $("#request-shown");
    box.replaceChildren(el("h3", {}, `chaos: ${body.action}`), el("pre", {}, JSON.stringify(out, null, 2)),
      el("p", { class: "note" }, "The same with the CLI (on the machine that ran trireme up): ",
        el("code", {}, chaosCli(body))));
    if (failed.length) box.append(el("div", { class: "error-text" }, failed.map(([n, a]) => `${n}: ${a.error}`).join("\n")));
  } catch (e) {
    $("#request-shown").replaceChildren(el("div", { class: "error-text" }, String(e.message || e)));
  }
}

function chaosCli(b) {
  switch (b.action) {
    case "isolate": return `trireme chaos split ${b.node} ${state.cluster.nodes.map((n) => n.id).filter((n) => n !== b.node).join(",")}`;
    case "latency": return `trireme chaos latency --ms ${b.value}`;
    case "loss": return `trireme chaos loss --percent ${b.value}`;
    case "clock": return `trireme chaos clock --rate ${b.value}`;
    case "cut": return `trireme chaos cut ${b.from} ${b.to}`;
    case "heal": return "trireme chaos heal";
    default: return "(no CLI equivalent: the Admin service's transfer_leader)";
  }
}

// --- streams and triggers -------------------------------------------------------------

async function loadStreams() {
  const out = await streams("ListStreams", {});
  $("#streams tbody").replaceChildren(...out.Streams.map((s) => el("tr", {},
    el("td", {}, s.TableName), el("td", {}, el("code", {}, s.StreamArn)), el("td", {}, s.StreamLabel),
    el("td", {}, el("button", { onclick: () => showStream(s.StreamArn).catch(fail) }, "Shards and records")))));
  const fns = await lambda("ListFunctions", {}, "/2015-03-31/functions/");
  $("#functions tbody").replaceChildren(...fns.Functions.map((f) => el("tr", {},
    el("td", {}, f.FunctionName), el("td", {}, f.Runtime), el("td", {}, f.Handler), el("td", {}, fmtBytes(f.CodeSize)),
    el("td", {}, el("button", { onclick: () => showLog(f.FunctionName).catch(fail) }, "Log")))));
  const maps = await lambda("ListEventSourceMappings", {}, "/2015-03-31/event-source-mappings/");
  $("#mappings tbody").replaceChildren(...maps.EventSourceMappings.map((m) => el("tr", {},
    el("td", {}, el("code", {}, m.UUID)), el("td", {}, m.FunctionArn.split(":").pop()),
    el("td", {}, el("code", {}, m.EventSourceArn.split("/").slice(1, 2).join("") || m.EventSourceArn)),
    el("td", {}, m.State), el("td", {}, m.StartingPosition || "-"), el("td", {}, m.BatchSize),
    el("td", { class: "trigger-position", "data-uuid": m.UUID }, triggerPosition(m.UUID)),
    el("td", {}, m.LastProcessingResult || "-"), el("td", {}, m.TriremeDiscardedRecords ?? 0))));
}

// Where a mapping is in each partition's stream, from the live cluster state.
function triggerPosition(uuid) {
  const parts = ((state.cluster || {}).partitions || []).filter((p) => p.triggers && p.triggers[uuid]);
  return parts.length ? parts.map((p) => `${p.id} @${p.triggers[uuid][0]} (${p.triggers[uuid][1]} behind)`).join("; ")
    : "not started";
}

async function showStream(arn) {
  const d = (await streams("DescribeStream", { StreamArn: arn })).StreamDescription;
  const box = $("#stream-detail");
  box.replaceChildren(el("h3", {}, `${d.TableName}: ${d.StreamStatus}, ${d.StreamViewType}`));
  for (const shard of d.Shards) {
    const range = shard.SequenceNumberRange || {};
    box.append(el("div", {}, el("b", {}, shard.ShardId), shard.ParentShardId ? ` (parent ${shard.ParentShardId})` : "",
      ` sequence ${range.StartingSequenceNumber || "?"}..${range.EndingSequenceNumber || "open"}`));
    const it = await streams("GetShardIterator", { StreamArn: arn, ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON" });
    const recs = await streams("GetRecords", { ShardIterator: it.ShardIterator, Limit: 100 });
    const recent = recs.Records.slice(-20).reverse();
    box.append(el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, "Event"), el("th", {}, "Sequence"),
      el("th", {}, "Keys"), el("th", {}, "New image"))), el("tbody", {}, ...recent.map((r) => el("tr", {},
      el("td", {}, r.eventName), el("td", {}, r.dynamodb.SequenceNumber), el("td", {}, JSON.stringify(toPlain(r.dynamodb.Keys || {}))),
      el("td", {}, r.dynamodb.NewImage ? JSON.stringify(toPlain(r.dynamodb.NewImage)) : "-"))))));
  }
}

async function showLog(name) {
  const res = await consoleApi(`function_log?name=${encodeURIComponent(name)}`);
  // This router's own log (the invocations it ran: Invoke, function URLs), as `trireme logs` reads it.
  const own = await fetch(`/trireme/functions/${encodeURIComponent(name)}/logs`);
  const parts = [`--- this router (Invoke)\n${own.ok ? (await own.text()) || "(empty)" : `(${own.status})`}`,
    ...Object.entries(res.nodes).map(([n, a]) => `--- node ${n} (event source mappings)\n${a.error || a.text || "(empty)"}`)];
  $("#log-title").textContent = `Log of ${name}`;
  $("#function-log").textContent = parts.join("\n");
}

// --- capacity -----------------------------------------------------------------------------

function chart(samples, series, provisioned, title) {
  const w = 420, h = 140, pad = 28;
  const t0 = samples.length ? samples[0][0] : 0, t1 = samples.length ? samples[samples.length - 1][0] : 1;
  const max = Math.max(1, provisioned || 0, ...samples.flatMap((s) => series.map(([i]) => s[i]))) * 1.1;
  const x = (t) => pad + (w - 2 * pad) * (t1 > t0 ? (t - t0) / (t1 - t0) : 1);
  const y = (v) => h - pad + (-(h - 2 * pad) * v) / max;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart"); svg.setAttribute("width", w); svg.setAttribute("height", h);
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); };
  add("text", { x: pad, y: 14, "font-size": 12 }, title);
  add("text", { x: 2, y: pad, "font-size": 10 }, max.toFixed(1));
  add("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#ccc" });
  if (provisioned) add("line", { x1: pad, y1: y(provisioned), x2: w - pad, y2: y(provisioned), stroke: "#cf222e", "stroke-dasharray": "4 3" });
  for (const [i, color] of series) {
    add("polyline", { fill: "none", stroke: color, "stroke-width": 1.5, points: samples.map((s) => `${x(s[0])},${y(s[i])}`).join(" ") });
    const last = samples[samples.length - 1];
    if (last) add("circle", { cx: x(last[0]), cy: y(last[i]), r: 2.5, fill: color });
  }
  return svg;
}

async function loadCapacity() {
  await loadTables();
  const cap = await consoleApi("capacity");
  const box = $("#capacity");
  box.replaceChildren();
  for (const t of Object.values(state.tables)) {
    const samples = cap.tables[t.TableName] || [];
    const pt = t.ProvisionedThroughput || {};
    const onDemand = (t.BillingModeSummary || {}).BillingMode === "PAY_PER_REQUEST";
    const last = samples[samples.length - 1] || [0, 0, 0, 0, 0];
    box.append(el("h3", {}, t.TableName, el("small", {}, onDemand ? " on-demand" : ` provisioned ${pt.ReadCapacityUnits} RCU / ${pt.WriteCapacityUnits} WCU`)),
      el("div", { class: "chart-box" }, chart(samples, [[1, "#1f6feb"]], onDemand ? 0 : pt.ReadCapacityUnits, "read units / s (dashed: provisioned)")),
      el("div", { class: "chart-box" }, chart(samples, [[2, "#8250df"]], onDemand ? 0 : pt.WriteCapacityUnits, "write units / s")),
      el("div", { class: "chart-box" }, chart(samples, [[3, "#cf222e"], [4, "#9a6700"]], 0, "throttled read / write units / s")),
      el("p", { class: "note" }, `now: ${last[1].toFixed(1)} read and ${last[2].toFixed(1)} write units per second; ` +
        `throttled ${last[3].toFixed(1)} / ${last[4].toFixed(1)}; ${samples.length} samples. ` +
        "The monthly bill these rates make: the Cost table above, or trireme cost " + t.TableName));
  }
}

// --- cost ---------------------------------------------------------------------------------

// The month's bill from /console/api/cost (ddb/cost.py's lines, each with its arithmetic): per table, then the total.
async function loadCost() {
  const bill = await consoleApi("cost");
  const money = (x) => (x < 0 ? "-$" : "$") + Math.abs(x).toFixed(2);
  const rows = [];
  for (const name of [...new Set(bill.lines.map((x) => x.table))]) {
    const lines = bill.lines.filter((x) => x.table === name);
    for (const x of lines) rows.push(el("tr", {}, el("td", {}, x.table), el("td", {}, x.item), el("td", {}, x.observed_text), el("td", {}, x.arithmetic)));
    if (name !== "(account)") rows.push(el("tr", { class: "subtotal" }, el("td", {}, name), el("td", { colspan: 2 }, "per month"),
      el("td", {}, money(lines.reduce((s, x) => s + x.cost, 0)))));  // the free tier is the account's, not a table's
  }
  $("#cost").replaceChildren(
    el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["Table", "Item", "Observed", "Per month x price = cost"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)),
    el("p", { class: "cost-total" }, `Estimated monthly total: ${money(bill.monthly_total)}`),
    el("p", { class: "note" }, `A month is ${bill.hours_per_month} hours. Requests are projected from the rate observed since each table was created; ` +
      "capacity and storage are what each table has now. Prices: DynamoDB's us-east-1 list in " + bill.prices +
      " (price with your own copy: trireme cost --prices FILE). Stream reads are those " + bill.stream_reads_from +
      " served; trireme cost adds every router's."));
}

// --- start -------------------------------------------------------------------------------

function start() {
  $$("#tabs button").forEach((b) => b.addEventListener("click", () => openTab(b.dataset.tab)));
  $("#refresh-tables").addEventListener("click", () => loadTables().catch(fail));
  $("#create-table").addEventListener("submit", (ev) => createTable(ev).catch(fail));
  $("#browse").addEventListener("submit", (ev) => { ev.preventDefault(); runBrowse(null).catch(fail); });
  $("#next-page").addEventListener("click", () => runBrowse(state.lastKey).catch(fail));
  $("#browse-table").addEventListener("change", fillIndexes);
  $("#browse-index").addEventListener("change", showKeyNames);
  $("#put-item").addEventListener("click", () => putItem());
  $("#delete-item").addEventListener("click", () => deleteItem());
  $("#new-item").addEventListener("click", () => { const s = schemaOf(); edit(s ? Object.fromEntries(s.tableKeys.map((k) => [k, typed(s.types[k], "")])) : {}); });
  $$("input[name=format]").forEach((r) => r.addEventListener("change", () => {
    // Re-show the editor's item in the other format (the one it was in is read first).
    const other = r.value === "plain" ? "ddb" : "plain";
    try {
      const v = JSON.parse($("#editor").value);
      editing = other === "plain" ? toDdb(v) : v;
    } catch (e) { /* keep the last good item */ }
    writeEditor(editing);
  }));
  $("#chaos-cut").addEventListener("click", () => chaos({ action: "cut", from: $("#cut-from").value, to: $("#cut-to").value }));
  $$("[data-chaos]").forEach((b) => b.addEventListener("click", () => {
    const action = b.dataset.chaos;
    const value = action === "heal" ? undefined : Number($(`#chaos-${action}`).value);
    chaos(value === undefined ? { action } : { action, value });
  }));
  $("#refresh-streams").addEventListener("click", () => loadStreams().catch(fail));
  $("#where").textContent = ENDPOINT;
  consoleApi("state").then((s) => { REGION = s.region || REGION; $("#where").textContent = `${ENDPOINT} (${REGION}, cluster ${s.cluster_id})`; state.cluster = s; renderCluster(); }).catch(fail);
  connectLive().catch(fail);
  loadTables().catch(fail);
}

// --- signing in (a cluster started with --auth) ------------------------------------

const AUTH_ERRORS = ["MissingAuthenticationTokenException", "UnrecognizedClientException",
  "InvalidSignatureException", "IncompleteSignatureException", "ExpiredTokenException"];

// The console starts once a ListTables passes: unsigned in open mode, else signed with the keys given at sign-in.
async function begin() {
  $("#signin").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    SigV4.signIn({ accessKeyId: f.key.value.trim(), secretAccessKey: f.secret.value.trim(),
      sessionToken: f.token.value.trim() || undefined, region: f.region.value.trim() || "us-east-1" });
    location.reload();
  });
  $("#signout").addEventListener("click", () => { SigV4.signOut(); location.reload(); });
  const res = await SigV4.signedFetch("/", { method: "POST", body: "{}",
    headers: { "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables" } });
  const body = await res.json().catch(() => ({}));
  const type = (body.__type || "").split("#").pop();
  if (!res.ok && AUTH_ERRORS.includes(type)) {
    const signedIn = SigV4.credentials();
    SigV4.signOut();
    $("#signin-message").textContent = signedIn ? `Refused: ${type}: ${body.message || ""}`
      : "This cluster enforces authentication (--auth): sign in with a user's access key (trireme users add NAME).";
    $("#signin").hidden = false;
    $("main").hidden = true;
    return;
  }
  $("#signout").hidden = !SigV4.credentials();
  start();
}

begin().catch(fail);
