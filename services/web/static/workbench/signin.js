// Signing in. Production: the OIDC issuer's authorization code flow with PKCE (S256), the
// page a public client; the code leaves the address bar before anything else runs, and the
// token is kept in this tab's sessionStorage only. Development: the development issuer's
// token for a chosen role and agency (POST /dev/token of this front; 404 in production).

import { session } from '/static/common/api.js';
import { $, clear, h, showProblems } from '/static/common/ui.js';

const PKCE = 'onestop.pkce';

function b64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function redirectUri() {
  return `${location.origin}/workbench/`;
}

export async function startOidc(auth) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const url = new URL(auth.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: auth.client_id, redirect_uri: redirectUri(),
    scope: auth.scope, state, code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

function problem(code, vi, en) {
  return { ok: false, status: 400, data: null,
    problems: [{ code, field: null, message_vi: vi, message_en: en }] };
}

// The issuer sent the browser back with ?code=&state= (or ?error=): exchanged here.
// Null when this load is no such return.
export async function finishOidc(auth) {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return null;
  history.replaceState(null, '', location.pathname);
  const kept = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  sessionStorage.removeItem(PKCE);
  if (params.has('error')) {
    return problem(params.get('error'), 'Hệ thống xác thực không cho đăng nhập',
      params.get('error_description') || 'the issuer refused the sign-in');
  }
  if (!kept || kept.state !== params.get('state')) {
    return problem('state_mismatch', 'Phiên đăng nhập không khớp: mời đăng nhập lại',
      'the state returned is not the one sent');
  }
  let response;
  try {
    response = await fetch(auth.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: params.get('code'),
        redirect_uri: redirectUri(), client_id: auth.client_id, code_verifier: kept.verifier,
      }),
    });
  } catch (error) {
    return problem('issuer_unreachable', 'Không kết nối được hệ thống xác thực', String(error));
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    return problem(body.error || 'token_refused', 'Hệ thống xác thực không cấp mã đăng nhập',
      body.error_description || `token endpoint answered ${response.status}`);
  }
  session.set(body.access_token);
  return { ok: true };
}

export function signOut(config) {
  session.clear();
  const auth = config.auth;
  if (auth.mode === 'oidc' && auth.end_session_endpoint) {
    const url = new URL(auth.end_session_endpoint);
    url.searchParams.set('client_id', auth.client_id);
    url.searchParams.set('post_logout_redirect_uri', redirectUri());
    location.assign(url.toString());
    return;
  }
  location.replace('/workbench/');
}

// The sign-in section: the issuer's button, or the development form.
export function showSignIn(config, message) {
  $('#signin').hidden = false;
  const box = $('#signin-problems');
  if (message) showProblems(box, message);
  if (config.auth.mode === 'oidc') {
    $('#oidc-signin').hidden = false;
    $('#oidc-start').onclick = () => startOidc(config.auth);
    return;
  }
  const dev = config.development;
  const form = $('#dev-signin');
  form.hidden = false;
  const roleSelect = $('#dev-role');
  const agencySelect = $('#dev-agency');
  const nameInput = $('#dev-name');
  clear(roleSelect);
  for (const [role, facts] of Object.entries(config.roles)) {
    roleSelect.append(h('option', { value: role }, facts.label));
  }
  const fill = () => {
    const role = roleSelect.value;
    const person = dev.people[role] || { name: '', agency: '' };
    clear(agencySelect);
    if (person.agency === dev.national) {
      agencySelect.append(h('option', { value: dev.national }, 'Toàn quốc'));
    } else {
      for (const a of dev.agencies) {
        agencySelect.append(h('option', { value: a.code, selected: a.code === person.agency },
          `${a.name} (${a.code})`));
      }
    }
    nameInput.value = person.name;
  };
  roleSelect.onchange = fill;
  fill();
  form.onsubmit = async (event) => {
    event.preventDefault();
    const response = await fetch('/dev/token', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ role: roleSelect.value, agency: agencySelect.value,
        name: nameInput.value.trim() }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      showProblems(box, { ok: false, status: response.status, data: body,
        problems: (body && body.problems) || [] }, { form });
      return;
    }
    session.set(body.access_token);
    location.replace('/workbench/');
  };
  roleSelect.focus();
}
