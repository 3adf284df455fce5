// What a request the console sent looks like as boto3 and AWS CLI code.
// Pure functions over (service, operation, params): the page shows them for
// every DynamoDB, DynamoDB Streams and Lambda call it makes.
"use strict";

const Codegen = (() => {
  const SERVICES = {
    DynamoDB_20120810: { boto3: "dynamodb", cli: "dynamodb" },
    DynamoDBStreams_20120810: { boto3: "dynamodbstreams", cli: "dynamodbstreams" },
    lambda: { boto3: "lambda", cli: "lambda" },
  };

  function snake(name) {
    return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toLowerCase();
  }

  function kebab(name) {
    return snake(name).replace(/_/g, "-");
  }

  function pyString(s) {
    return "'" + String(s).replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n") + "'";
  }

  // A JSON value as a Python literal, indented.
  function py(value, indent) {
    const pad = "    ".repeat(indent + 1);
    const end = "    ".repeat(indent);
    if (value === null || value === undefined) return "None";
    if (value === true) return "True";
    if (value === false) return "False";
    if (typeof value === "number") return String(value);
    if (typeof value === "string") return pyString(value);
    if (Array.isArray(value)) {
      if (!value.length) return "[]";
      return "[\n" + value.map((v) => pad + py(v, indent + 1)).join(",\n") + ",\n" + end + "]";
    }
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return "{\n" + keys.map((k) => pad + pyString(k) + ": " + py(value[k], indent + 1)).join(",\n") + ",\n" + end + "}";
  }

  function shellQuote(s) {
    return "'" + String(s).replace(/'/g, "'\"'\"'") + "'";
  }

  function boto3(service, operation, params, endpoint, region) {
    const client = SERVICES[service].boto3;
    const args = Object.keys(params).map((k) => "    " + k + "=" + py(params[k], 1) + ",").join("\n");
    return [
      "import boto3",
      "",
      `client = boto3.client(${pyString(client)}, endpoint_url=${pyString(endpoint)}, region_name=${pyString(region)},`,
      "                      aws_access_key_id='test', aws_secret_access_key='test')",
      `response = client.${snake(operation)}(` + (args ? "\n" + args + "\n)" : ")"),
      "print(response)",
    ].join("\n");
  }

  function cli(service, operation, params, endpoint, region) {
    const parts = [`aws ${SERVICES[service].cli} ${kebab(operation)}`, `--endpoint-url ${endpoint}`,
                   `--region ${region}`];
    for (const [k, v] of Object.entries(params)) {
      const flag = "--" + kebab(k);
      if (v === true) parts.push(flag);
      else if (v === false) parts.push("--no-" + kebab(k));
      else if (typeof v === "number") parts.push(`${flag} ${v}`);
      else if (typeof v === "string") parts.push(`${flag} ${shellQuote(v)}`);
      else parts.push(`${flag} ${shellQuote(JSON.stringify(v))}`);
    }
    return parts.join(" \\\n    ");
  }

  return { boto3, cli, snake, kebab, py };
})();
