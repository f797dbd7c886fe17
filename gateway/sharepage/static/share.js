// share.js: the twincrypt share page, run by the browser of whoever opens a
// share link <server>/s/<id>#<secret>.
//
// What it does, in order (each step is a function below):
//
//  1. parseLink: read the share id from the address and the 256-bit secret
//     from the fragment (the part after "#"). Browsers never send the
//     fragment to a server, and this script never sends the secret anywhere.
//  2. openShare: derive the download token from the secret and POST it to
//     /s/<id>/open. The server compares a hash of it and answers the share's
//     manifest: sealed entries (one per file) and a download ticket.
//  3. deriveKeys: derive the entry key and the commitment from the secret
//     (and the password, for a link that has one).
//  4. openEntries: check the commitment of each sealed entry (this is what
//     tells a wrong password from a damaged link), decrypt it, and check its
//     contents: each entry gives a file's name, size and, per part, the
//     object id, salt and data key that decrypt its blob.
//  5. saveFile (on "Save"): fetch the file's blobs in windows of 64 chunks,
//     authenticate and decrypt every 64 KiB chunk, and write the plaintext
//     to disk as it goes, through the File System Access API, a Service
//     Worker (sw.js) that streams it as a download, or, where neither is
//     available, a Blob in memory (at most 256 MiB). Nothing that failed to
//     authenticate is ever written, and a failed file is discarded.
//
// The byte formats are specified in docs/FORMAT.md ("Share links" and the
// blob format) and docs/SHARING.md; the Go implementation is in
// gateway/sharelink (keys and entries) and gateway/seal (blobs).
//
// Rules this file keeps: no dependency, no external resource, text from the
// server or the entries is shown with textContent only (never as HTML), and
// no secret, key or plaintext is ever written to the console or sent to a
// server.
//
// Test hooks (query parameters of the page address): ?fsa=0 skips the File
// System Access API; ?sw=0 skips the Service Worker too, so the file is
// assembled in memory. The File System Access API is also skipped when the
// browser is driven by automation (navigator.webdriver), where its file
// picker cannot be answered.

'use strict';

(() => {
  // ---------------------------------------------------------------------
  // Constants of the formats.
  // ---------------------------------------------------------------------

  // Share links (gateway/sharelink).
  const ID_SIZE = 16;
  const SECRET_SIZE = 32;
  const KEY_SIZE = 32;
  const COMMITMENT_SIZE = 32;
  const ENTRY_NONCE_SIZE = 12;
  const GCM_TAG_SIZE = 16;
  const ENTRY_OVERHEAD = COMMITMENT_SIZE + ENTRY_NONCE_SIZE + GCM_TAG_SIZE;
  const MIN_ITERATIONS = 100000;
  const MAX_ITERATIONS = 10000000;

  // The labels of the derivations: HKDF info strings, the PBKDF2 salt
  // prefix and the prefix of the entries' associated data.
  const LABEL_TOKEN = 'twincrypt share v1 token';
  const LABEL_ENTRY_KEY = 'twincrypt share v1 entry key';
  const LABEL_COMMITMENT = 'twincrypt share v1 commitment';
  const LABEL_PASSWORD = 'twincrypt share v1 password';
  const LABEL_PASSWORD_KEY = 'twincrypt share v1 password key';
  const LABEL_ENTRY_AD = 'twincrypt share v1 entry';
  const LABEL_PAYLOAD_KEY = 'twincrypt v1 payload key';

  // Blobs (docs/FORMAT.md): a 154-byte header, then chunks of 64 KiB of
  // plaintext, each followed by its 16-byte AES-GCM tag.
  const HEADER_SIZE = 154;
  const CHUNK_SIZE = 65536;
  const CHUNK_CIPHER_SIZE = CHUNK_SIZE + GCM_TAG_SIZE; // 65552

  // How many chunks one request fetches (4 MiB of ciphertext).
  const WINDOW_CHUNKS = 64;

  // The largest file the in-memory fallback accepts.
  const MEMORY_LIMIT = 256 * 1024 * 1024;

  // ---------------------------------------------------------------------
  // Messages shown to the recipient. Tests compare some of them exactly.
  // ---------------------------------------------------------------------

  const MSG = {
    noFragment: 'This link is incomplete: the part after “#” is missing. Copy the whole link, including everything after “#”, and open it again.',
    badFragment: 'This link is damaged: the part after “#” is not a valid key. Copy the whole link and open it again.',
    badID: 'This link is damaged: the share id in the address is not valid.',
    wrongLink: 'This link is damaged or not for this file.',
    wrongPassword: 'Wrong password.',
    notFound: 'There is no share at this address. The link may be mistyped, or the share was deleted.',
    gone: 'This link no longer opens: it was revoked, it expired, or it was used up.',
    badManifest: 'The server sent an answer this page does not understand.',
    network: 'The server could not be reached. Check the connection and try again.',
    noCrypto: 'This browser cannot decrypt files on this page: it lacks WebCrypto, which browsers offer only on https:// pages and on localhost.',
    fileGone: 'This file is no longer available through this link: the link was revoked or expired, or the file was replaced or deleted.',
    ticket: 'The permission to download expired. Reload the page to open the link again.',
    cancelled: 'The download was cancelled.',
    noDownload: 'The browser did not start the download.',
    integrity: (name) => `“${name}” failed to authenticate: the data was damaged or tampered with. Nothing was saved.`,
    tooBig: (name) => `“${name}” is larger than 256 MiB, which this browser can only save by keeping the whole file in memory. Open the link in a browser with Service Workers (over https://) or use “twincrypt get”.`,
    memory: 'This browser cannot write the files straight to disk from this page, so each file is kept in memory until it is complete (at most 256 MiB per file).',
  };

  // ShareError carries a message for the recipient.
  class ShareError extends Error {}

  // IntegrityError is any failure to authenticate a file's data: a chunk
  // whose tag does not verify, a window shorter or longer than it must be,
  // a blob of the wrong size. It never says more than that.
  class IntegrityError extends Error {}

  // ---------------------------------------------------------------------
  // Byte helpers.
  // ---------------------------------------------------------------------

  const utf8 = new TextEncoder();

  // bytes turns a string into its UTF-8 bytes and leaves bytes alone.
  function bytes(v) {
    return typeof v === 'string' ? utf8.encode(v) : v;
  }

  // concat returns the concatenation of byte arrays (or strings, as UTF-8).
  function concat(...parts) {
    const arrays = parts.map(bytes);
    const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
    let off = 0;
    for (const a of arrays) {
      out.set(a, off);
      off += a.length;
    }
    return out;
  }

  // uint32be is the 4-byte big-endian form of n.
  function uint32be(n) {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, n);
    return out;
  }

  // equalBytes compares two byte arrays without an early exit.
  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  // base64urlDecode decodes unpadded base64url (RFC 4648, section 5), the
  // form of ids, secrets, tokens and sealed entries. It returns null for
  // anything else, or when size is given and the length differs.
  function base64urlDecode(text, size) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
    const std = text.replace(/-/g, '+').replace(/_/g, '/');
    let binary;
    try {
      binary = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
    } catch {
      return null;
    }
    if (size !== undefined && binary.length !== size) return null;
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  // base64urlEncode encodes bytes as unpadded base64url.
  function base64urlEncode(data) {
    let binary = '';
    for (const b of data) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // hexDecode decodes a hex string of exactly size bytes, or returns null.
  function hexDecode(text, size) {
    if (typeof text !== 'string' || text.length !== 2 * size || !/^[0-9a-fA-F]*$/.test(text)) return null;
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return out;
  }

  // ---------------------------------------------------------------------
  // Cryptography, all of it WebCrypto. Keys are imported as non-extractable
  // CryptoKeys; raw key bytes are overwritten once imported.
  // ---------------------------------------------------------------------

  // hkdf is HKDF-SHA-256 (RFC 5869): Expand(Extract(salt, ikm), info, length).
  async function hkdf(ikm, salt, info, length) {
    const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
    const bits = await crypto.subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: bytes(salt), info: bytes(info) }, key, length * 8);
    return new Uint8Array(bits);
  }

  // pbkdf2 is PBKDF2-HMAC-SHA-256 with a 32-byte output.
  async function pbkdf2(password, salt, iterations) {
    const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
    const bits = await crypto.subtle.deriveBits(
      { name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, KEY_SIZE * 8);
    return new Uint8Array(bits);
  }

  // aesKey imports 32 raw bytes as an AES-256-GCM decryption key and wipes
  // the raw bytes.
  async function aesKey(raw) {
    try {
      return await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['decrypt']);
    } finally {
      raw.fill(0);
    }
  }

  // gcmOpen authenticates and decrypts ciphertext||tag; it throws if the tag
  // does not verify.
  async function gcmOpen(key, nonce, additionalData, sealed) {
    return new Uint8Array(await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: nonce, additionalData, tagLength: 128 }, key, sealed));
  }

  // ---------------------------------------------------------------------
  // Step 1: the link.
  // ---------------------------------------------------------------------

  // parseLink returns the share id (text and bytes) and the secret.
  function parseLink() {
    // The path is /s/<id>; a trailing slash is tolerated.
    const path = location.pathname;
    const at = path.lastIndexOf('/s/');
    const idText = at < 0 ? '' : path.slice(at + 3).replace(/\/+$/, '');
    const id = base64urlDecode(idText, ID_SIZE);
    if (id === null) throw new ShareError(MSG.badID);
    // location.hash is "#<secret>", or "" when the fragment is missing.
    const fragment = location.hash.replace(/^#/, '').trim();
    if (fragment === '') throw new ShareError(MSG.noFragment);
    const secret = base64urlDecode(fragment, SECRET_SIZE);
    if (secret === null) throw new ShareError(MSG.badFragment);
    return { idText, id, secret };
  }

  // ---------------------------------------------------------------------
  // Step 2: open the share on the server.
  // ---------------------------------------------------------------------

  // serverReason returns the "error" field of a JSON error body, shortened,
  // or "" when there is none.
  async function serverReason(resp) {
    try {
      const body = await resp.json();
      if (body && typeof body.error === 'string') return body.error.slice(0, 300);
    } catch {
      // Not JSON: no reason to show.
    }
    return '';
  }

  // withReason appends the server's reason to a message.
  function withReason(message, reason) {
    return reason ? `${message} (The server says: ${reason})` : message;
  }

  // openShare sends the download token and returns the checked manifest.
  // The server counts this as one download of the link.
  async function openShare(link) {
    // token = HKDF(ikm = secret, salt = id, info = "twincrypt share v1 token", 32)
    const token = await hkdf(link.secret, link.id, LABEL_TOKEN, 32);
    let resp;
    try {
      resp = await fetch(`/s/${link.idText}/open`, {
        method: 'POST',
        headers: { 'X-Twincrypt-Token': base64urlEncode(token) },
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      throw new ShareError(MSG.network);
    }
    if (resp.status === 403) throw new ShareError(MSG.wrongLink);
    if (resp.status === 404) throw new ShareError(MSG.notFound);
    if (resp.status === 410) throw new ShareError(withReason(MSG.gone, await serverReason(resp)));
    if (!resp.ok) {
      throw new ShareError(withReason(`The server answered “${resp.status} ${resp.statusText}”. Try again later.`, await serverReason(resp)));
    }
    let manifest;
    try {
      manifest = await resp.json();
    } catch {
      throw new ShareError(MSG.badManifest);
    }
    checkManifest(manifest);
    return manifest;
  }

  // checkManifest checks the structure of the manifest (docs/SHARING.md).
  // What it says about sizes is checked against the entries later: the
  // entries are authenticated, the manifest is not.
  function checkManifest(m) {
    const ok = m !== null && typeof m === 'object' &&
      m.v === 1 &&
      (m.kind === 'file' || m.kind === 'folder') &&
      Array.isArray(m.entries) && m.entries.every((e) => typeof e === 'string') &&
      Array.isArray(m.files) && m.files.length === m.entries.length &&
      (m.kind === 'folder' || m.entries.length === 1) &&
      m.files.every((f) => f !== null && typeof f === 'object' && Array.isArray(f.parts) &&
        f.parts.every((p) => p !== null && typeof p === 'object' && Number.isSafeInteger(p.blob_size) && p.blob_size >= 0)) &&
      typeof m.ticket === 'string' && /^[\x21-\x7e]*$/.test(m.ticket);
    if (!ok) throw new ShareError(MSG.badManifest);
    if (m.password !== undefined && m.password !== null) {
      const p = m.password;
      // A hostile server must not make the recipient derive a cheap key
      // (too few iterations) or spin for hours (too many).
      if (typeof p !== 'object' || p.kdf !== 'pbkdf2-sha256' || !Number.isSafeInteger(p.iterations) ||
        p.iterations < MIN_ITERATIONS || p.iterations > MAX_ITERATIONS) {
        throw new ShareError(MSG.badManifest);
      }
    }
  }

  // ---------------------------------------------------------------------
  // Step 3: the keys of the entries.
  // ---------------------------------------------------------------------

  // deriveKeys mirrors sharelink.DeriveKeys in Go. password is a string, or
  // null for a link without one.
  async function deriveKeys(link, password, iterations) {
    let ikm = link.secret;
    if (password !== null) {
      // pw  = PBKDF2-HMAC-SHA-256(UTF-8 password,
      //                           salt = "twincrypt share v1 password" || id,
      //                           iterations, 32)
      // ikm = HKDF(secret || pw, salt = id,
      //            info = "twincrypt share v1 password key" || uint32be(iterations), 32)
      const passwordBytes = utf8.encode(password);
      const pw = await pbkdf2(passwordBytes, concat(LABEL_PASSWORD, link.id), iterations);
      passwordBytes.fill(0);
      const mixed = concat(link.secret, pw);
      pw.fill(0);
      ikm = await hkdf(mixed, link.id, concat(LABEL_PASSWORD_KEY, uint32be(iterations)), KEY_SIZE);
      mixed.fill(0);
    }
    // entry key  = HKDF(ikm, salt = id, info = "twincrypt share v1 entry key", 32)
    // commitment = HKDF(ikm, salt = id, info = "twincrypt share v1 commitment", 32)
    const entryKey = await aesKey(await hkdf(ikm, link.id, LABEL_ENTRY_KEY, KEY_SIZE));
    const commitment = await hkdf(ikm, link.id, LABEL_COMMITMENT, COMMITMENT_SIZE);
    if (ikm !== link.secret) ikm.fill(0);
    return { entryKey, commitment };
  }

  // ---------------------------------------------------------------------
  // Step 4: the entries.
  // ---------------------------------------------------------------------

  // openEntries opens every sealed entry of the manifest. A sealed entry is
  // commitment (32) || nonce (12) || AES-256-GCM ciphertext and tag, with
  // associated data "twincrypt share v1 entry" || id || uint32be(index).
  async function openEntries(link, manifest, keys, withPassword) {
    const entries = [];
    for (let index = 0; index < manifest.entries.length; index++) {
      const sealed = base64urlDecode(manifest.entries[index]);
      if (sealed === null || sealed.length < ENTRY_OVERHEAD) throw new ShareError(MSG.wrongLink);
      // The commitment is reproduced only by the right secret (and
      // password), so a mismatch is a wrong password or a wrong link, and
      // AES-GCM never has to open an entry under a wrong key.
      if (!equalBytes(sealed.subarray(0, COMMITMENT_SIZE), keys.commitment)) {
        throw new ShareError(withPassword ? MSG.wrongPassword : MSG.wrongLink);
      }
      const nonce = sealed.subarray(COMMITMENT_SIZE, COMMITMENT_SIZE + ENTRY_NONCE_SIZE);
      const ad = concat(LABEL_ENTRY_AD, link.id, uint32be(index));
      let plain;
      try {
        plain = await gcmOpen(keys.entryKey, nonce, ad, sealed.subarray(COMMITMENT_SIZE + ENTRY_NONCE_SIZE));
      } catch {
        throw new ShareError(MSG.wrongLink);
      }
      entries.push(parseEntry(plain, manifest.files[index]));
    }
    return entries;
  }

  // checkName mirrors sharelink.CheckName: a relative '/'-separated name
  // with no empty, "." or ".." segment, no NUL or backslash, each segment at
  // most 255 bytes.
  function checkName(name) {
    if (typeof name !== 'string' || name === '' || /[\0\\]/.test(name)) return false;
    return name.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && utf8.encode(seg).length <= 255);
  }

  // parseEntry decodes and checks an opened entry, and pairs each of its
  // parts with the blob size the manifest gives for it. The entry is
  // authenticated; the blob size is checked against it before a download.
  function parseEntry(plain, file) {
    let e;
    try {
      e = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
    } catch {
      throw new ShareError(MSG.wrongLink);
    } finally {
      plain.fill(0);
    }
    const damaged = () => new ShareError(MSG.wrongLink);
    if (e === null || typeof e !== 'object' || !checkName(e.name) ||
      !Number.isSafeInteger(e.size) || e.size < 0 || !Array.isArray(e.parts) ||
      e.parts.length !== file.parts.length) {
      throw damaged();
    }
    let total = 0;
    const parts = e.parts.map((p, i) => {
      if (p === null || typeof p !== 'object' || !Number.isSafeInteger(p.size) || p.size < 0) throw damaged();
      const part = {
        size: p.size,
        objectId: hexDecode(p.id, 16),
        salt: hexDecode(p.salt, 32),
        dataKey: hexDecode(p.key, 32),
        blobSize: file.parts[i].blob_size,
      };
      if (part.objectId === null || part.salt === null || part.dataKey === null) throw damaged();
      total += p.size;
      return part;
    });
    if (total !== e.size) throw damaged();
    return { name: e.name, size: e.size, parts };
  }

  // ---------------------------------------------------------------------
  // Blob geometry (docs/FORMAT.md, "Payload chunks" and "Sizes").
  // ---------------------------------------------------------------------

  // chunkCount is the number of chunks of a plaintext of size bytes: an
  // empty object is one empty final chunk.
  function chunkCount(size) {
    return size === 0 ? 1 : Math.ceil(size / CHUNK_SIZE);
  }

  // chunkCipherSize is the size of chunk i on disk: 65552 for every chunk
  // but the last, which holds the rest of the plaintext plus its tag.
  function chunkCipherSize(i, n, size) {
    return i < n - 1 ? CHUNK_CIPHER_SIZE : size - (n - 1) * CHUNK_SIZE + GCM_TAG_SIZE;
  }

  // blobSize is the size of the whole blob of a plaintext of size bytes.
  function blobSize(size) {
    return HEADER_SIZE + size + GCM_TAG_SIZE * chunkCount(size);
  }

  // chunkNonce is the nonce of chunk i: its index as an 11-byte big-endian
  // number, then 1 for the final chunk and 0 for every other.
  function chunkNonce(i, final) {
    const nonce = new Uint8Array(12);
    let v = i;
    for (let b = 10; b >= 0 && v > 0; b--) {
      nonce[b] = v % 256;
      v = Math.floor(v / 256);
    }
    nonce[11] = final ? 1 : 0;
    return nonce;
  }

  // ---------------------------------------------------------------------
  // Step 5: fetching and decrypting a file.
  // ---------------------------------------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // fetchWindow fetches chunks first..last (inclusive) of a part's blob
  // with one Range request and returns exactly their bytes. Network errors
  // and 5xx answers are retried twice; anything that is not exactly the
  // bytes asked for is an error.
  async function fetchWindow(ctx, part, url, first, last, n) {
    const start = HEADER_SIZE + first * CHUNK_CIPHER_SIZE;
    const end = HEADER_SIZE + last * CHUNK_CIPHER_SIZE + chunkCipherSize(last, n, part.size); // exclusive
    for (let attempt = 0; ; attempt++) {
      let resp;
      try {
        resp = await fetch(url, {
          headers: { 'X-Twincrypt-Ticket': ctx.ticket, Range: `bytes=${start}-${end - 1}` },
          cache: 'no-store',
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
          signal: ctx.abort.signal,
        });
      } catch (err) {
        if (ctx.abort.signal.aborted) throw err;
        if (attempt < 2) {
          await sleep(1000 * (attempt + 1));
          continue;
        }
        throw new ShareError(MSG.network);
      }
      if (resp.status >= 500 && attempt < 2) {
        await sleep(1000 * (attempt + 1));
        continue;
      }
      if (resp.status === 403) throw new ShareError(MSG.ticket);
      if (resp.status === 404 || resp.status === 410) throw new ShareError(withReason(MSG.fileGone, await serverReason(resp)));
      // 416: the blob is shorter than the entry says it must be.
      if (resp.status === 416) throw new IntegrityError('blob too short');
      if (resp.status !== 206) throw new ShareError(`The server answered “${resp.status} ${resp.statusText}” to a request for the file's data.`);
      // The server must answer exactly the bytes asked for, out of a blob
      // of exactly the size the entry implies: a blob with extra bytes or
      // missing chunks fails here even where every chunk read would verify.
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(resp.headers.get('Content-Range') || '');
      if (range === null || Number(range[1]) !== start || Number(range[2]) !== end - 1 ||
        (range[3] !== '*' && Number(range[3]) !== part.blobSize)) {
        throw new IntegrityError('wrong range');
      }
      if (params.get('xbyob') === '1') {
        if (!ctx.pool) ctx.pool = [];
        let buf = ctx.pool.pop() || new ArrayBuffer(WINDOW_CHUNKS * CHUNK_CIPHER_SIZE + 1);
        const reader = resp.body.getReader({ mode: 'byob' });
        let off = 0;
        const length = end - start;
        for (;;) {
          const { value, done } = await reader.read(new Uint8Array(buf, off, length + 1 - off));
          buf = value.buffer;
          if (done) break;
          off += value.byteLength;
          if (off > length) throw new IntegrityError('long window');
        }
        if (off !== length) throw new IntegrityError('short window');
        const body = new Uint8Array(buf, 0, length);
        body.release = () => ctx.pool.push(buf);
        return body;
      }
      const body = new Uint8Array(await resp.arrayBuffer());
      if (body.length !== end - start) throw new IntegrityError('short window');
      return body;
    }
  }

  // decryptWindow authenticates and decrypts chunks first..last of a part
  // from their ciphertext and returns their plaintexts, one Uint8Array per
  // chunk. If any chunk fails, nothing of the window is returned.
  async function decryptWindow(part, first, last, n, ciphertext) {
    if (params.get('xdec') === '0') return [];
    if (params.get('xdec') === 'seq') {
      const out = [];
      let o = 0;
      for (let i = first; i <= last; i++) {
        const len = chunkCipherSize(i, n, part.size);
        out.push(await gcmOpen(part.payloadKey, chunkNonce(i, i === n - 1), part.objectId, ciphertext.subarray(o, o + len)));
        o += len;
      }
      return out;
    }
    const jobs = [];
    let off = 0;
    for (let i = first; i <= last; i++) {
      const len = chunkCipherSize(i, n, part.size);
      const sealed = ciphertext.subarray(off, off + len);
      off += len;
      // nonce = uint88(i) || final flag; associated data = the object id.
      jobs.push(gcmOpen(part.payloadKey, chunkNonce(i, i === n - 1), part.objectId, sealed)
        .catch(() => { throw new IntegrityError(`chunk ${i}`); }));
    }
    return Promise.all(jobs);
  }

  // savePart streams one part of a file into the sink. The next window is
  // fetched while the current one is decrypted and written, so at most two
  // windows (8 MiB of ciphertext) are in memory.
  async function savePart(ctx, fileIndex, partIndex, part, sink, progress) {
    const n = chunkCount(part.size);
    // payload key = HKDF(ikm = data key, salt = salt, info = "twincrypt v1 payload key", 32)
    part.payloadKey = await aesKey(await hkdf(part.dataKey, part.salt, LABEL_PAYLOAD_KEY, KEY_SIZE));
    const url = `/s/${ctx.link.idText}/f/${fileIndex}/${partIndex}`;
    const windowAt = (first) => {
      const last = Math.min(first + WINDOW_CHUNKS, n) - 1;
      const p = fetchWindow(ctx, part, url, first, last, n);
      p.catch(() => {}); // handled when awaited; never an unhandled rejection
      return { first, last, bytes: p };
    };
    try {
      let next = windowAt(0);
      while (next !== null) {
        const win = next;
        const ciphertext = await win.bytes;
        next = win.last + 1 < n ? windowAt(win.last + 1) : null;
        const pchunks = decryptWindow(part, win.first, win.last, n, ciphertext);
        if (ciphertext.release) ciphertext.release();
        const chunks = await pchunks;
        const len = chunks.reduce((sum, c) => sum + c.length, 0);
        await sink.write(chunks);
        progress(len);
      }
    } finally {
      part.payloadKey = null;
    }
  }

  // ---------------------------------------------------------------------
  // Where the plaintext goes: three sinks with the same three methods.
  // write(chunks) writes an array of Uint8Arrays, and may take ownership of
  // them; close() keeps the file under its name; abort() discards
  // everything written.
  // ---------------------------------------------------------------------

  const params = new URLSearchParams(location.search);

  // saveName is the name a file is saved under: the last segment of its
  // name in the share (a folder link's names may contain "/").
  function saveName(name) {
    return name.slice(name.lastIndexOf('/') + 1);
  }

  // canUseFileSystemAccess: the File System Access API is present, not
  // switched off by ?fsa=0, and no automation drives the browser (its
  // file picker could not be answered).
  function canUseFileSystemAccess() {
    return typeof window.showSaveFilePicker === 'function' && params.get('fsa') !== '0' && !navigator.webdriver;
  }

  // fileSystemSink writes into a file the recipient picks. The browser
  // writes to a temporary file and moves it over the picked one only on
  // close(); abort() deletes the temporary file.
  async function fileSystemSink(entry) {
    const handle = await window.showSaveFilePicker({ suggestedName: saveName(entry.name) });
    const writable = await handle.createWritable({ keepExistingData: false });
    return {
      async write(chunks) {
        for (const c of chunks) await writable.write(c);
      },
      close: () => writable.close(),
      abort: () => writable.abort().catch(() => {}),
    };
  }

  // registerWorker registers sw.js, which streams downloads, and returns
  // its registration once a worker is active, or null where Service
  // Workers are unavailable (switched off with ?sw=0, a page that is not a
  // secure context, a private window of some browsers).
  async function registerWorker() {
    if (params.get('sw') === '0' || !('serviceWorker' in navigator) || !window.isSecureContext) return null;
    try {
      await navigator.serviceWorker.register('/s/sw.js', { scope: '/s/', updateViaCache: 'none' });
      const reg = await Promise.race([navigator.serviceWorker.ready, sleep(10000).then(() => null)]);
      return reg && reg.active ? reg : null;
    } catch {
      return null;
    }
  }

  // workerSink streams the file through the Service Worker as a download.
  //
  // The page picks a random download id and tells the worker the file's
  // name and size, with a MessagePort for the worker's answers. Then it
  // navigates to /s/dl/<id>; the worker answers that request with an
  // attachment whose body is a stream, so the browser saves it as a
  // download and the page stays. Each time the stream wants data, the
  // worker posts "pull" and the page sends one window of plaintext: the
  // browser's writing paces the decryption (backpressure), and at most a
  // window or two wait in memory. On abort the worker errors the stream,
  // so the browser marks the download failed and discards the partial file.
  async function workerSink(reg, entry) {
    const worker = reg.active;
    if (!worker) throw new ShareError(MSG.noDownload);
    const id = base64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
    const channel = new MessageChannel();
    let credits = 0; // pulls not yet answered
    let cancelled = false; // the browser (or the recipient) cancelled the download
    let wake = null; // resolves a write that waits for a pull
    let readyResolve;
    const ready = new Promise((resolve) => { readyResolve = resolve; });
    channel.port1.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.t === 'ready') readyResolve(true);
      else if (m.t === 'pull') credits++;
      else if (m.t === 'cancel') cancelled = true;
      if (wake !== null) {
        const w = wake;
        wake = null;
        w();
      }
    };
    worker.postMessage({ t: 'start', id, name: saveName(entry.name), size: entry.size, port: channel.port2 }, [channel.port2]);
    if (!(await Promise.race([ready, sleep(10000).then(() => false)]))) {
      channel.port1.close();
      throw new ShareError(MSG.noDownload);
    }

    // Start the download. No download attribute: this is a plain
    // navigation, which the worker answers; the answer is an attachment,
    // so the page is not replaced.
    const a = document.createElement('a');
    a.href = `/s/dl/${id}`;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();

    // A Service Worker that receives no event for a while may be stopped;
    // a message every 10 seconds keeps it alive while the download runs.
    const keepAlive = setInterval(() => worker.postMessage({ t: 'ping', id }), 10000);
    const finish = () => {
      clearInterval(keepAlive);
      channel.port1.onmessage = null;
      channel.port1.close();
    };

    // waitForPull waits until the worker asks for data. The first pull
    // comes once the browser has started the download; if it does not
    // within a minute, the download did not start.
    const waitForPull = async (first) => {
      const deadline = Date.now() + 60000;
      while (credits === 0 && !cancelled) {
        if (first && Date.now() > deadline) throw new ShareError(MSG.noDownload);
        await Promise.race([new Promise((resolve) => { wake = resolve; }), sleep(1000)]);
      }
      if (cancelled) throw new ShareError(MSG.cancelled);
    };
    let started = false;

    return {
      async write(chunks) {
        await waitForPull(!started);
        started = true;
        credits--;
        // Hand the buffers over to the worker (transfer, not copy). Each
        // chunk owns its whole buffer (decryptWindow made it).
        worker.postMessage({ t: 'data', id, chunks }, chunks.map((c) => c.buffer));
      },
      async close() {
        worker.postMessage({ t: 'end', id });
        finish();
      },
      async abort() {
        worker.postMessage({ t: 'error', id });
        finish();
      },
    };
  }

  // memorySink collects the file in memory and hands it to the browser as
  // a Blob when it is complete. It is the last resort, for at most 256 MiB.
  function memorySink(entry) {
    if (entry.size > MEMORY_LIMIT) throw new ShareError(MSG.tooBig(entry.name));
    let parts = [];
    return {
      async write(chunks) {
        parts.push(...chunks);
      },
      async close() {
        const blob = new Blob(parts, { type: 'application/octet-stream' });
        parts = [];
        const url = URL.createObjectURL(blob);
        const a = document.createElement('a');
        a.href = url;
        a.download = saveName(entry.name);
        a.hidden = true;
        document.body.append(a);
        a.click();
        a.remove();
        // The browser has read the Blob by the time a minute has passed.
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      },
      async abort() {
        parts = [];
      },
    };
  }

  // ---------------------------------------------------------------------
  // The page.
  // ---------------------------------------------------------------------

  const ui = {
    title: document.getElementById('title'),
    summary: document.getElementById('summary'),
    status: document.getElementById('status'),
    error: document.getElementById('error'),
    form: document.getElementById('password-form'),
    password: document.getElementById('password'),
    passwordSubmit: document.getElementById('password-submit'),
    files: document.getElementById('files'),
    memoryNote: document.getElementById('memory-note'),
  };

  function setStatus(text) {
    ui.status.textContent = text;
    ui.status.hidden = text === '';
  }

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = text === '';
  }

  // formatSize formats a byte count for people: "20.0 MiB".
  function formatSize(n) {
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return u === 0 ? `${n} ${n === 1 ? 'byte' : 'bytes'}` : `${v.toFixed(1)} ${units[u]}`;
  }

  // errorText is what the recipient reads for an error: the message of our
  // own errors, a generic sentence for anything unexpected (whose details
  // might not be meant for the page).
  function errorText(err, entry) {
    if (err instanceof IntegrityError) return MSG.integrity(entry ? entry.name : 'The file');
    if (err instanceof ShareError) return err.message;
    return `Something went wrong (${err && err.name ? err.name : 'error'}). Reload the page to try again.`;
  }

  // askPassword shows the password form and resolves with what is typed.
  function askPassword() {
    return new Promise((resolve) => {
      ui.form.hidden = false;
      ui.password.disabled = false;
      ui.passwordSubmit.disabled = false;
      ui.password.value = '';
      ui.password.focus();
      ui.form.onsubmit = (ev) => {
        ev.preventDefault();
        if (ui.password.value === '') return;
        ui.form.onsubmit = null;
        const password = ui.password.value;
        ui.password.value = '';
        ui.password.disabled = true;
        ui.passwordSubmit.disabled = true;
        resolve(password);
      };
    });
  }

  // unlock derives the keys and opens the entries, asking for the password
  // until it is right when the link has one.
  async function unlock(link, manifest) {
    if (!manifest.password) {
      const keys = await deriveKeys(link, null, 0);
      return openEntries(link, manifest, keys, false);
    }
    setStatus('');
    for (;;) {
      const password = await askPassword();
      showError('');
      setStatus('Checking the password…');
      try {
        const keys = await deriveKeys(link, password, manifest.password.iterations);
        const entries = await openEntries(link, manifest, keys, true);
        ui.form.hidden = true;
        return entries;
      } catch (err) {
        if (!(err instanceof ShareError) || err.message !== MSG.wrongPassword) throw err;
        setStatus('');
        showError(MSG.wrongPassword);
      }
    }
  }

  // The state of the page once the entries are open.
  const state = {
    link: null,
    manifest: null,
    entries: [],
    rows: [],
    worker: null, // Promise of the Service Worker registration or null
    busy: false, // one file is saved at a time
  };

  // render shows the list of files, each with its Save button.
  function render() {
    const { manifest, entries } = state;
    const total = entries.reduce((n, e) => n + e.size, 0);
    if (manifest.kind === 'file') {
      ui.title.textContent = entries[0].name;
      document.title = `${saveName(entries[0].name)} (shared file)`;
    } else {
      ui.title.textContent = 'Shared folder';
      document.title = 'Shared folder';
      ui.summary.textContent = entries.length === 0 ? 'This folder is empty.'
        : `${entries.length} ${entries.length === 1 ? 'file' : 'files'}, ${formatSize(total)} in all.`;
      ui.summary.hidden = false;
    }
    state.rows = entries.map((entry, index) => {
      const li = document.createElement('li');
      li.className = 'file';
      li.dataset.index = String(index);
      li.dataset.state = 'idle';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = entry.name;
      const size = document.createElement('span');
      size.className = 'size';
      size.textContent = formatSize(entry.size);
      size.title = `${entry.size.toLocaleString('en')} bytes`;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'save';
      button.textContent = 'Save';
      button.setAttribute('aria-label', `Save ${entry.name}`);
      button.addEventListener('click', () => saveFile(index));
      const bar = document.createElement('progress');
      bar.max = Math.max(entry.size, 1);
      bar.value = 0;
      bar.hidden = true;
      const st = document.createElement('span');
      st.className = 'state';
      st.setAttribute('aria-live', 'polite');
      li.append(name, size, button, bar, st);
      ui.files.append(li);
      return { li, button, bar, state: st };
    });
    ui.files.hidden = false;
    setStatus('');
  }

  // saveFile saves file index: pick the sink, stream every part into it,
  // keep the file on success and discard it on any failure.
  async function saveFile(index) {
    if (state.busy) return;
    state.busy = true;
    const entry = state.entries[index];
    const row = state.rows[index];
    for (const r of state.rows) r.button.disabled = true;
    showError('');
    row.li.dataset.state = 'saving';
    row.state.textContent = 'Starting…';
    const ctx = { link: state.link, ticket: state.manifest.ticket, abort: new AbortController() };
    let sink = null;
    try {
      // The File System Access picker must be opened before anything else
      // is awaited: it needs the click that is being handled.
      if (canUseFileSystemAccess()) {
        try {
          sink = await fileSystemSink(entry);
        } catch (err) {
          if (err && err.name === 'AbortError') throw new ShareError(MSG.cancelled); // the picker was closed
          sink = null; // not allowed here: fall through to the other ways
        }
      }
      // Every part's blob must have the size its (authenticated) plaintext
      // size implies; check before anything is written.
      if (entry.parts.some((p) => p.blobSize !== blobSize(p.size))) throw new IntegrityError('blob size');
      if (sink === null) {
        const reg = await state.worker;
        if (params.get('xsink') === 'null') {
          sink = { write: async () => {}, close: async () => {}, abort: async () => {} };
        } else if (reg !== null) {
          sink = await workerSink(reg, entry);
        } else {
          sink = memorySink(entry);
          ui.memoryNote.textContent = MSG.memory;
          ui.memoryNote.hidden = false;
        }
      }
      row.bar.hidden = false;
      let done = 0;
      const progress = (n) => {
        done += n;
        row.bar.value = done;
        row.state.textContent = `${formatSize(done)} of ${formatSize(entry.size)}`;
      };
      progress(0);
      for (let p = 0; p < entry.parts.length; p++) {
        await savePart(ctx, index, p, entry.parts[p], sink, progress);
      }
      await sink.close();
      sink = null;
      row.bar.value = row.bar.max;
      row.li.dataset.state = 'done';
      row.state.textContent = 'Saved.';
    } catch (err) {
      ctx.abort.abort();
      if (sink !== null) await sink.abort();
      row.li.dataset.state = 'failed';
      row.bar.hidden = true;
      row.state.textContent = 'Not saved.';
      showError(errorText(err, entry));
    } finally {
      state.busy = false;
      for (const r of state.rows) r.button.disabled = false;
    }
  }

  // main runs steps 1 to 4 and shows the files.
  async function main() {
    if (!window.crypto || !crypto.subtle) {
      setStatus('');
      showError(MSG.noCrypto);
      return;
    }
    try {
      state.link = parseLink();
      // Register the Service Worker while the link opens, so that it is
      // ready by the time the recipient clicks "Save".
      state.worker = registerWorker();
      state.manifest = await openShare(state.link);
      state.entries = await unlock(state.link, state.manifest);
      // The secret is no longer needed: the entries hold the data keys.
      state.link.secret.fill(0);
      render();
      document.body.dataset.ready = 'true';
    } catch (err) {
      setStatus('');
      ui.form.hidden = true;
      showError(errorText(err, null));
    }
  }

  main();
})();
