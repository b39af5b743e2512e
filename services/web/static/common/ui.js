// Small DOM helpers and the one rendering of the services' answers (problems), shared by
// the workbench and the citizens' page. Text is always set as text, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const TZ = 'Asia/Ho_Chi_Minh';

export function when(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString('vi-VN', {
    timeZone: TZ, hour: '2-digit', minute: '2-digit', day: '2-digit', month: '2-digit',
    year: 'numeric',
  });
}

export function day(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleDateString('vi-VN', { timeZone: TZ, day: '2-digit',
    month: '2-digit', year: 'numeric' });
}

// A datetime-local input's value, read as Hà Nội time.
export function localToIso(value) {
  if (!value) return null;
  return `${value.length === 16 ? `${value}:00` : value}+07:00`;
}

const HEADINGS = {
  0: 'Không kết nối được dịch vụ',
  400: 'Yêu cầu không đọc được',
  401: 'Phiên đăng nhập không hợp lệ hoặc đã hết hạn: mời đăng nhập lại',
  403: 'Không có quyền thực hiện',
  404: 'Không tìm thấy',
  409: 'Không thực hiện được ở trạng thái hiện tại',
  413: 'Tệp hoặc nội dung quá lớn',
  422: 'Thông tin chưa hợp lệ',
  429: 'Quá nhiều yêu cầu',
  503: 'Dịch vụ tạm thời chưa sẵn sàng, vui lòng thử lại',
};

// A problem's field as the forms name it: a discriminated union's tag (the applicant's kind)
// is not a field anyone typed.
function plainField(field) {
  return field.replace(/\.(individual|organization)\./, '.');
}

// Shows an answer's problems in `box` (an element with role="alert"), marks the fields of
// `form` they name (inputs carry data-field), and returns whether the answer was good.
export function showProblems(box, result, { form = null, labels = {}, lead = null } = {}) {
  clear(box);
  if (form) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }
  if (!result || result.ok) {
    box.hidden = true;
    return true;
  }
  const data = result.data || {};
  let heading = HEADINGS[result.status] || `Lỗi ${result.status}`;
  if (result.status === 403 && data.missing_permission) {
    heading += `: cần quyền ${data.missing_permission}`;
  }
  if (result.status === 429 && result.retryAfter) {
    heading += `: thử lại sau ${result.retryAfter} giây`;
  }
  const items = (result.problems || []).map((p) => {
    const where = p.field ? ` (${labels[plainField(p.field)] || p.field})` : '';
    return h('li', { dataset: { code: p.code || '' } }, `${p.message_vi}${where}`,
      h('span', { class: 'code' }, ` [${p.code}]`));
  });
  box.append(h('p', { class: 'heading' }, lead ? `${lead}: ${heading}` : heading));
  if (items.length) box.append(h('ul', {}, items));
  const state = data.current_state || data.current_status;
  if (result.status === 409 && state) {
    box.append(h('p', {}, `Trạng thái hiện tại: ${labels[state] || state}`));
  }
  if (result.status === 409 && Array.isArray(data.allowed_actions)) {
    const allowed = data.allowed_actions.map((a) => labels[a] || a);
    box.append(h('p', { class: 'allowed' },
      `Việc có thể làm bây giờ: ${allowed.length ? allowed.join(', ') : 'không có'}`));
  }
  box.hidden = false;
  if (form) {
    for (const p of result.problems || []) {
      if (!p.field) continue;
      const field = plainField(p.field);
      const input = form.querySelector(`[data-field="${CSS.escape(field)}"]`)
        || form.querySelector(`[data-field="${CSS.escape(field.split('.')[0])}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
  }
  box.focus();
  return false;
}

export function note(box, text) {
  clear(box);
  box.append(h('p', {}, text));
  box.hidden = false;
}
