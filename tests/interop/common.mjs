// What fc-provider.mjs and rp-client.mjs share: stdout kept for their protocol,
// and one way to read the command line.

import { parseArgs } from 'node:util';

// Routes every console output to stderr. Call it before loading a library that
// might print (hence the dynamic imports of the libraries).
export function consoleToStderr() {
  const toStderr = (...args) => console.error(...args);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  console.warn = toStderr;
}

// Parses the command line of program `name` strictly: `options` plus --verbose
// and --help. A bad argument or --help prints the usage line and exits with
// status 2; `usage(message)` does the same for a bad value found later, and
// `log(message)` writes a diagnostic on stderr.
export function commandLine(name, synopsis, options) {
  const log = (msg) => process.stderr.write(`${name}: ${msg}\n`);
  function usage(message) {
    if (message) log(message);
    process.stderr.write(`usage: node ${name}.mjs ${synopsis} [--verbose]\n`);
    process.exit(2);
  }
  let args;
  try {
    ({ values: args } = parseArgs({
      options: {
        ...options,
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage(err.message);
  }
  if (args.help) usage();
  return { args, usage, log };
}
