/**
 * The consent page: plain server-rendered HTML, no script. The owner sees which application
 * asks (the name it registered, which nobody verified), where the browser will be sent back
 * (the redirect host, which is what identifies the application), and what it gets; approving
 * takes the owner secret, denying does not.
 */

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; padding: 2rem 1rem; display: flex; justify-content: center; }
  main { max-width: 34rem; width: 100%; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; margin: 1rem 0; }
  dt { font-weight: 600; }
  dd { margin: 0; overflow-wrap: anywhere; }
  .note { font-size: .9rem; opacity: .8; }
  .message { padding: .7rem .9rem; border-radius: .4rem; margin: 1rem 0; }
  .error { background: #fde2e1; color: #7a1410; border: 1px solid #f3a29d; }
  label { display: block; font-weight: 600; margin: 1rem 0 .3rem; }
  input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
  .buttons { display: flex; gap: .8rem; margin-top: 1.2rem; }
  button { padding: .55rem 1.2rem; font-size: 1rem; border-radius: .4rem; cursor: pointer; }
  button.approve { background: #1f6feb; color: #fff; border: 1px solid #1f6feb; }
  button.deny { background: transparent; border: 1px solid currentColor; }
  code { font-size: .85rem; }
`;

function layout(nonce: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style nonce="${escapeHtml(nonce)}">${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface ConsentView {
  nonce: string;
  clientName: string | null;
  clientId: string;
  redirectUri: string;
  resource: string;
  accessTokenSeconds: number;
  requestId: string;
  csrfToken: string;
  /** Shown above the form: a wrong secret, a lock. */
  error?: string;
}

/** `host` for web redirects; `scheme://host` for an app's own scheme, where the scheme is what identifies it. */
export function redirectHost(redirectUri: string): string {
  const url = new URL(redirectUri);
  if (url.protocol === 'https:' || url.protocol === 'http:') return url.host;
  return `${url.protocol}//${url.host}`;
}

function lifetime(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return seconds === 60 ? '1 minute' : `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

export function consentPage(view: ConsentView): string {
  const name = view.clientName ?? 'An application that gave no name';
  const title = `Allow ${name} to use your memory?`;
  const error =
    view.error === undefined ? '' : `<p class="message error" role="alert">${escapeHtml(view.error)}</p>\n`;
  return layout(
    view.nonce,
    title,
    `<h1>Allow <span id="client-name">${escapeHtml(name)}</span> to use your memory?</h1>
<p>This application asks to <strong>read and write everything</strong> in this memory server:
memories, conversation history, artifacts and the events extracted from them.</p>
<dl>
  <dt>Application</dt><dd>${escapeHtml(name)} <span class="note">(the name it gave itself; nobody checked it)</span></dd>
  <dt>Sends you back to</dt><dd id="redirect-host"><strong>${escapeHtml(redirectHost(view.redirectUri))}</strong><br><code>${escapeHtml(view.redirectUri)}</code></dd>
  <dt>Client ID</dt><dd><code>${escapeHtml(view.clientId)}</code></dd>
  <dt>For</dt><dd><code>${escapeHtml(view.resource)}</code></dd>
</dl>
<p class="note">Approve only if you started this connection yourself and you recognise where it
sends you back. Its access tokens last ${lifetime(view.accessTokenSeconds)} and are renewed until
you revoke them with <code>memory tokens revoke</code>.</p>
${error}<form method="post" action="/authorize">
  <input type="hidden" name="request_id" value="${escapeHtml(view.requestId)}">
  <input type="hidden" name="csrf_token" value="${escapeHtml(view.csrfToken)}">
  <label for="owner-secret">Owner secret</label>
  <input type="password" id="owner-secret" name="owner_secret" autocomplete="current-password" required autofocus>
  <div class="buttons">
    <button type="submit" class="approve" name="decision" value="approve">Approve</button>
    <button type="submit" class="deny" name="decision" value="deny" formnovalidate>Deny</button>
  </div>
</form>`,
  );
}

/** A page that ends the flow here: the request cannot go back to a client it cannot trust. */
export function errorPage(nonce: string, title: string, message: string): string {
  return layout(
    nonce,
    title,
    `<h1>${escapeHtml(title)}</h1>
<p class="message error" role="alert">${escapeHtml(message)}</p>
<p class="note">Close this window and start the connection again from your application.</p>`,
  );
}
