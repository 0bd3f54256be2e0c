#!/usr/bin/env node
import { main } from './program.js';

// `tickets … | head` closes the pipe early: that is the reader being done, not an error to report.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });

process.exitCode = await main(process.argv);
