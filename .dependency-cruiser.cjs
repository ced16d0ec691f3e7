// Import rules for src/ (dependency-cruiser, run by `npm run lint`). It reads type-only imports
// too (tsPreCompilationDeps), because a type import ties two concepts as much as a value does,
// even if it vanishes at run time. The folders form layers, each using only those below it:
//   time, db, obs, queue  <  channels  <  notify  <  scheduler, realtime  <  herald.ts, handlers.ts, http, cli
// Shared words (a channel, a delivery event) live in src/types.ts, below every folder. The
// browser client (src/client) stands apart: it imports only itself, and nothing imports it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'An import cycle: load order decides what is undefined at start-up. Move what both need to a third module.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'channels-below-notify',
      comment:
        'Providers know messages (channels/provider.ts) and src/types.ts, not the notification domain.',
      severity: 'error',
      from: { path: '^src/channels/' },
      to: { path: '^src/(notify|scheduler)/' },
    },
    {
      name: 'notify-below-scheduler',
      comment: 'The scheduler triggers notifications; notify/ does not know schedules.',
      severity: 'error',
      from: { path: '^src/notify/' },
      to: { path: '^src/scheduler/' },
    },
    {
      name: 'parts-below-the-root',
      comment: 'A part takes a small context object (STYLE.md), not the whole Herald.',
      severity: 'error',
      from: { path: '^src/(channels|db|notify|obs|queue|realtime|scheduler|time)/' },
      to: { path: '^src/(herald|index|process|handlers|recipes)\\.ts$' },
    },
    {
      name: 'client-stands-alone',
      comment:
        'src/client is served to browsers as it is (/client/*.js) and published as herald/client: it may import only its own modules, no package and no Node built-in.',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { pathNot: '^src/client/' },
    },
    {
      name: 'nothing-imports-the-client',
      comment:
        'The server reads dist/client/ as files; importing src/client would pull DOM code into the server.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/client/' },
      to: { path: '^src/client/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/db/migrations/' },
  },
};
