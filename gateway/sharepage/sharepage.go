// Package sharepage holds the web page that opens a share link in the
// recipient's browser (docs/SHARING.md, "Downloading"): page.html, its
// script share.js, its style sheet share.css, the Service Worker sw.js that
// streams decrypted files to disk as downloads, and gone.html, the page the
// share listener answers for a link that does not exist or no longer opens.
//
// The page is the same for every link. Everything secret happens in the
// browser: share.js reads the link's secret from the URL fragment, which is
// never sent to a server, derives the download token and the keys of the
// sealed entries as gateway/sharelink does, and authenticates and decrypts
// every 64 KiB chunk as gateway/seal does (docs/FORMAT.md). The gateway
// only ever serves ciphertext.
//
// The files use no framework and load nothing from anywhere else: no inline
// script or style, no external host. The share listener serves them with
// the Content-Security-Policy CSP, under these paths:
//
//	GET /s/<id>              static/page.html (or gone.html, 404/410)
//	GET /s/static/share.js   static/share.js
//	GET /s/static/share.css  static/share.css
//	GET /s/sw.js             static/sw.js (a Service Worker of scope /s/)
//
// /s/dl/<download id> is answered by the Service Worker inside the browser
// and never reaches the server (a server should answer it 404).
package sharepage

import (
	"embed"
	"html/template"
)

// Static holds the page's files, under "static/": page.html, gone.html,
// share.js, share.css and sw.js. Treat it as read-only.
//
//go:embed static
var Static embed.FS

// Paths of the files in Static.
const (
	PageFile   = "static/page.html"
	GoneFile   = "static/gone.html"
	ScriptFile = "static/share.js"
	StyleFile  = "static/share.css"
	WorkerFile = "static/sw.js"
)

// CSP is the Content-Security-Policy every response of the share listener
// carries: scripts, style sheets, requests and the worker from the same
// origin only, no inline code, no frames, no forms.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; worker-src 'self'; manifest-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// Gone is gone.html parsed as an html/template; execute it with a GoneData.
var Gone = template.Must(template.ParseFS(Static, GoneFile))

// GoneData fills Gone: a short title and a sentence saying why the link
// does not open.
type GoneData struct {
	Title   string
	Message string
}
