// A plugin that prints to stdout every way Node.js offers, for the stdout-protection test.
import { spawn } from 'node:child_process';
import { definePlugin } from '../../../dist/index.js';

console.log('printed before serve()'); // goes to the real stdout: the README says not to

definePlugin({
  id: 'noisy',
  version: '1.0.0',
  async run(ctx) {
    console.log('console.log in a handler');
    console.info('console.info in a handler');
    process.stdout.write('process.stdout.write in a handler\n');
    // A floating rejection must not kill the process.
    void Promise.reject(new Error('nobody awaited me'));
    // A child that inherits only stderr.
    await new Promise((resolve) => {
      const child = spawn(process.execPath, ['-e', 'console.log("a child on its own stdout")'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('exit', resolve);
    });
    ctx.info('done');
    return { printed: true };
  },
}).serve();
