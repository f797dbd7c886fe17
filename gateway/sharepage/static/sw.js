// sw.js: the Service Worker of the twincrypt share page (scope /s/).
//
// It does one thing: it turns plaintext that the share page (share.js)
// decrypted into a download that the browser writes to disk as it arrives,
// so that a file of any size can be saved without holding it in memory.
// It holds no key and decrypts nothing; it never fetches anything itself.
//
// The protocol between the page and this worker, per download:
//
//   page -> worker  {t: "start", id, name, size, port}
//                   id is random, chosen by the page; port is a MessagePort
//                   for the worker's answers.
//   worker -> page  {t: "ready"} on the port.
//   page            navigates to /s/dl/<id>; this worker answers that
//                   request (below) with an attachment whose body is a
//                   stream.
//   worker -> page  {t: "pull"} each time the stream wants more data.
//   page -> worker  {t: "data", id, chunks} plaintext (an array of
//                   Uint8Arrays) answering one pull.
//   page -> worker  {t: "end", id} when the file is complete, or
//                   {t: "error", id} when it failed: the stream is errored,
//                   so the browser marks the download failed and discards
//                   the partial file.
//   worker -> page  {t: "cancel"} if the browser cancelled the download.
//   page -> worker  {t: "ping", id} every 10 seconds: a worker that
//                   receives no event for a while may be stopped.
//
// Every request other than /s/dl/<id> is left to the network untouched.

'use strict';

// The downloads the page announced, by id.
const downloads = new Map();

// A new version of this file takes over at once.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// contentDisposition is an attachment header with the file name in the
// RFC 5987 form, which carries any Unicode name.
function contentDisposition(name) {
  let encoded;
  try {
    encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  } catch {
    encoded = 'download'; // a name that is not well-formed Unicode
  }
  return `attachment; filename*=UTF-8''${encoded}`;
}

// fail errors the stream of download d (or remembers to, if the browser
// has not asked for it yet) and forgets the download.
function fail(id, d) {
  d.failed = true;
  if (d.controller) {
    try {
      d.controller.error(new Error('the download failed'));
    } catch {
      // already closed or errored
    }
  }
  if (d.resume) d.resume();
  downloads.delete(id);
}

self.addEventListener('message', (event) => {
  const m = event.data;
  if (m === null || typeof m !== 'object' || typeof m.id !== 'string') return;

  if (m.t === 'start') {
    // Announce a download. The name becomes the file name; the size is the
    // exact number of bytes that will follow.
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(m.id) || typeof m.name !== 'string' || m.name === '' ||
      /[\0-\x1f\x7f/\\]/.test(m.name) || !Number.isSafeInteger(m.size) || m.size < 0 ||
      !(m.port instanceof MessagePort) || downloads.has(m.id)) {
      return;
    }
    downloads.set(m.id, {
      name: m.name,
      size: m.size,
      port: m.port,
      controller: null, // the stream's controller, once the browser asked for it
      resume: null, // resolves the stream's pending pull
      ended: false, // the page sent "end" before the browser asked
      failed: false, // the page sent "error"
    });
    m.port.postMessage({ t: 'ready' });
    return;
  }

  const d = downloads.get(m.id);
  if (!d) return;
  if (m.t === 'data' && Array.isArray(m.chunks) && d.controller) {
    // Plaintext answering a pull. The stream asks again only once its
    // queue has drained.
    for (const chunk of m.chunks) {
      if (chunk instanceof Uint8Array) d.controller.enqueue(chunk);
    }
    if (d.resume) {
      const resume = d.resume;
      d.resume = null;
      resume();
    }
  } else if (m.t === 'end') {
    // The file is complete.
    d.ended = true;
    if (d.controller) {
      d.controller.close();
      downloads.delete(m.id);
    }
    if (d.resume) d.resume();
  } else if (m.t === 'error') {
    fail(m.id, d);
  }
  // "ping" needs nothing: receiving it keeps this worker running.
});

// respond answers /s/dl/<id> with the announced download as an attachment.
function respond(id) {
  const d = downloads.get(id);
  if (!d || d.controller) {
    return new Response('No such download.', {
      status: 404,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
    });
  }
  const body = new ReadableStream({
    start(controller) {
      d.controller = controller;
      if (d.failed) controller.error(new Error('the download failed'));
      else if (d.ended) {
        controller.close();
        downloads.delete(id);
      }
    },
    // The browser wants more: ask the page for the next piece and wait
    // until it arrives (or the download ends).
    pull() {
      if (d.failed || d.ended) return undefined;
      return new Promise((resolve) => {
        d.resume = resolve;
        d.port.postMessage({ t: 'pull' });
      });
    },
    // The browser (or the person) cancelled the download.
    cancel() {
      d.port.postMessage({ t: 'cancel' });
      if (d.resume) d.resume();
      downloads.delete(id);
    },
  }, { highWaterMark: 1 });
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(d.size),
      'Content-Disposition': contentDisposition(d.name),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      // Should a browser ever show the response instead of saving it,
      // it must not run anything in it.
      'Content-Security-Policy': "default-src 'none'; sandbox",
    },
  });
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const match = /^\/s\/dl\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
  if (url.origin !== self.location.origin || match === null || event.request.method !== 'GET') return;
  event.respondWith(respond(match[1]));
});
