// The memory probe of bench:realtime, preloaded into every server process it measures
// (`node --expose-gc --import bench/realtime-probe.mjs ...`: Herald's CLI as shipped, and the
// peers' servers alike). Asked `{type: "memory"}` over the IPC channel, it runs full garbage
// collections and answers with process.memoryUsage(). Plain JavaScript so that a Herald process
// needs no TypeScript loader for it.
if (process.send) {
  process.on('message', (message) => {
    if (message?.type !== 'memory') return;
    // Three rounds: objects freed by one round's finalizers are collected by the next.
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    const usage = process.memoryUsage();
    process.send?.({ type: 'memory', gc: typeof globalThis.gc === 'function', ...usage });
  });
  // The channel must not keep the process alive: it exits on SIGTERM as it would without it.
  process.channel?.unref();
}
