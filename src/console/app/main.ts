import { html, render } from 'htm/preact';
import { Api } from './api.js';
import { Alarm } from './sound.js';
import { App } from './views.js';

/**
 * Entry point. The console is opened once as `/?token=T`: the token moves to session storage (gone
 * when the tab closes) and out of the address bar, history and any later Referer.
 */
const TOKEN_KEY = 'vigil.token';

function takeToken(): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const root = document.getElementById('app')!;
const token = takeToken();
if (token) render(html`<${App} api=${new Api(token)} alarm=${new Alarm()} />`, root);
else
  render(
    html`<main class="no-token">
      <h1>Vigil operator console</h1>
      <p>Open this page with its token once: <code>http://HOST:PORT/?token=TOKEN</code> (printed by <code>vigil start</code>; also in <code>.vigil/broadcast-token</code>).</p>
    </main>`,
    root,
  );
