// The screens' one way to call the services: the bearer token from the tab's session (never
// in a URL), every answer read whole, its problems kept for the place the person acted.

const SESSION = 'onestop.session';

export async function loadConfig() {
  const response = await fetch('/config.json', { cache: 'no-store' });
  return response.json();
}

export function claimsOf(token) {
  const part = token.split('.')[1] || '';
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)),
    (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export const session = {
  get() {
    try {
      const kept = JSON.parse(sessionStorage.getItem(SESSION) || 'null');
      if (!kept || (kept.claims.exp && kept.claims.exp * 1000 < Date.now())) return null;
      return kept;
    } catch (_) {
      return null;
    }
  },
  set(token) {
    sessionStorage.setItem(SESSION, JSON.stringify({ token, claims: claimsOf(token) }));
  },
  clear() {
    sessionStorage.removeItem(SESSION);
  },
};

export class Api {
  constructor(config, { onUnauthenticated } = {}) {
    this.config = config;
    this.onUnauthenticated = onUnauthenticated;
  }

  url(service, path) {
    return this.config.services[service] + path;
  }

  // {ok, status, data, problems, retryAfter, response}; never throws.
  async call(service, path, { method = 'GET', json, form, headers = {}, raw = false } = {}) {
    const sent = { ...headers };
    const kept = session.get();
    if (kept) sent.Authorization = `Bearer ${kept.token}`;
    let body;
    if (json !== undefined) {
      sent['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    let response;
    try {
      response = await fetch(service.startsWith('http') ? service + path : this.url(service, path),
        { method, headers: sent, body });
    } catch (error) {
      return {
        ok: false, status: 0, data: null,
        problems: [{ code: 'network', field: null,
          message_vi: `Không kết nối được dịch vụ (${service})`, message_en: String(error) }],
      };
    }
    if (raw && response.ok) return { ok: true, status: response.status, response };
    const type = response.headers.get('content-type') || '';
    let data = null;
    if (type.includes('json')) data = await response.json().catch(() => null);
    const result = { ok: response.ok, status: response.status, data, response };
    if (!response.ok) {
      result.problems = (data && data.problems) || [{ code: `http_${response.status}`,
        field: null, message_vi: `Lỗi ${response.status}`, message_en: response.statusText }];
      result.retryAfter = response.headers.get('Retry-After');
      if (response.status === 401 && this.onUnauthenticated) this.onUnauthenticated(result);
    }
    return result;
  }

  // A PDF the services answer to this person, opened in a tab: `tab` was opened by the
  // click itself (a window opened after an await may be taken for a pop-up).
  async openPdf(service, path, tab) {
    const result = await this.call(service, path, { raw: true });
    if (!result.ok) {
      if (tab) tab.close();
      return result;
    }
    const blob = await result.response.blob();
    const url = URL.createObjectURL(blob);
    if (tab) tab.location.replace(url);
    return { ok: true, status: result.status, url, size: blob.size };
  }
}

// A tab for a PDF, opened while the click still counts as the person's.
export function pdfTab() {
  return window.open('about:blank', '_blank');
}
