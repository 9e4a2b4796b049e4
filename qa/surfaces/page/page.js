// The results' behaviour (js_on_load of the results' gr.HTML): the context, copy and open-document buttons, the live
// summary, the question in the URL, "/" to focus the question box, 更多设置's state and Chinese names for its
// slider, and Gradio's own English notices in Chinese. Text from the server is inserted as text
// (textContent); the document viewer's HTML comes from render_document, which escapes everything taken from documents.
const setQuery = () => {
  const status = element.querySelector('.qa-sr[data-question]');
  if (!status) return;
  const url = new URL(window.location.href);
  url.searchParams.set('q', status.dataset.question);
  window.history.replaceState(window.history.state, '', url);
};
watch('value', setQuery);

// 更多设置 (a gr.Accordion, found in this page's part of the document) says whether it is open: Gradio only toggles
// the class "open" on its button, from a click or from the server. The accordion may mount after the results do.
function markSettings(tries) {
  let scope = element.parentElement;
  while (scope && !scope.querySelector('.qa-settings button.label-wrap')) scope = scope.parentElement;
  const toggle = scope && scope.querySelector('.qa-settings button.label-wrap');
  if (!toggle) {
    if (tries > 0) setTimeout(() => markSettings(tries - 1), 100);
    return;
  }
  if (toggle.dataset.qaMarked) return;
  toggle.dataset.qaMarked = '1';
  const mark = () => toggle.setAttribute('aria-expanded', String(toggle.classList.contains('open')));
  mark();
  new MutationObserver(mark).observe(toggle, {attributes: true, attributeFilter: ['class']});
  nameInChinese(toggle.closest('.qa-settings'));
}

// Gradio names the slider's parts in English whatever the page's language ("number input for 返回段落数"): Chinese
// names instead, again whenever Gradio sets them.
const CHINESE_NAMES = [[/^number input for (.+)$/, '$1'], [/^range slider for (.+)$/, '$1（滑块）'],
                       [/^Reset to default value$/, '恢复默认值']];
function nameInChinese(settings) {
  const rename = () => {
    for (const part of settings.querySelectorAll('[aria-label]')) {
      const name = part.getAttribute('aria-label');
      for (const [english, chinese] of CHINESE_NAMES) {
        if (english.test(name)) part.setAttribute('aria-label', name.replace(english, chinese));
      }
    }
  };
  rename();
  new MutationObserver(rename).observe(settings, {attributes: true, attributeFilter: ['aria-label'], childList: true,
                                           subtree: true});
}

markSettings(100);

// A button's text, and its name: that text, then the hit it acts on after "：" (查看上下文：<title> 第3段).
function say(button, text) {
  button.textContent = text;
  const label = button.getAttribute('aria-label');
  if (label && label.includes('：')) button.setAttribute('aria-label', text + label.slice(label.indexOf('：')));
}

async function toggleContext(button) {
  const hit = button.closest('.qa-hit');
  if (hit.dataset.loading) return;
  if (!hit.dataset.loaded) {
    // The button stays enabled while loading: disabling it would drop the keyboard focus to <body>.
    hit.dataset.loading = '1';
    button.setAttribute('aria-busy', 'true');
    say(button, '加载中…');
    try {
      const position = Number(button.dataset.position);
      const rows = await server.neighbour_texts([button.dataset.document, position]);
      for (const row of rows) {
        const p = document.createElement('p');
        p.className = 'qa-ctx';
        p.textContent = row.text;
        hit.querySelector(row.position < position ? '.qa-before' : '.qa-after').append(p);
      }
      if (!rows.length) {
        const p = document.createElement('p');
        p.className = 'qa-ctx';
        p.textContent = '这一段前后没有其他段落。';
        hit.querySelector('.qa-after').append(p);
      }
      hit.dataset.loaded = '1';
    } catch (error) {
      say(button, '加载失败，点击重试');
      return;
    } finally {
      delete hit.dataset.loading;
      button.removeAttribute('aria-busy');
    }
  }
  const open = hit.classList.toggle('qa-open');
  say(button, open ? '收起上下文' : '查看上下文');
  button.setAttribute('aria-expanded', String(open));
}

async function copyHit(button) {
  const text = button.dataset.copy;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (error) {  // no clipboard API (a page served over plain HTTP on a network): the older way
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    try { copied = document.execCommand('copy'); } catch (ignored) { copied = false; }
    area.remove();
    button.focus();
  }
  say(button, copied ? '已复制' : '复制失败');
  setTimeout(() => say(button, '复制'), 2000);
}

async function openDocument(button) {
  const dialog = element.querySelector('dialog.qa-doc');
  const body = dialog.querySelector('.qa-doc-body');
  body.textContent = '加载中…';
  dialog.addEventListener('close', () => button.focus(), {once: true});
  dialog.showModal();
  try {
    body.innerHTML = await server.document_html([button.dataset.document, Number(button.dataset.position)]);
  } catch (error) {
    body.textContent = '无法打开文档，请稍后重试。';
    return;
  }
  const title = body.querySelector('.qa-doc-title');
  if (title) dialog.setAttribute('aria-label', title.textContent);
  const here = body.querySelector('.qa-here');
  if (here) {
    here.scrollIntoView({block: 'center'});
    here.focus({preventScroll: true});
  }
}

element.addEventListener('click', (event) => {
  const target = event.target;
  const button = target.closest('button');
  if (target.matches('dialog.qa-doc')) target.close();  // a click on the backdrop
  if (!button) return;
  if (button.matches('.qa-more')) toggleContext(button);
  else if (button.matches('.qa-copy')) copyHit(button);
  else if (button.matches('.qa-open-doc')) openDocument(button);
  else if (button.matches('.qa-doc-close')) button.closest('dialog').close();
});

if (!window.__qaSlashFocus) {
  window.__qaSlashFocus = true;
  document.addEventListener('keydown', (event) => {
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const typing = event.target.closest && event.target.closest('input, textarea, select, [contenteditable]');
    if (typing || document.querySelector('dialog[open]')) return;
    const box = document.querySelector('.qa-question textarea, .qa-question input');
    if (!box) return;
    event.preventDefault();
    box.focus();
  });
}

// Gradio's own notices and names that its zh-CN strings lack ("File(s) exceed the maximum allowed size...", the lost
// connection, its footer's name): in Chinese, whatever mounts them, once per page.
const GRADIO_TEXTS = [
  [/^File\(s\) exceed the maximum allowed size of (.+?): ([\s\S]+)$/, '文件超过大小上限（$1），未上传：$2'],
  [/^Connection errored out\.?\s*$/, '连接出错，请刷新页面后重试。'],
  [/^Connection to the server was lost\. Attempting reconnection\.\.\.$/, '与服务器的连接已断开，正在重新连接…'],
  [/^Lost connection due to leaving page\. Rejoining queue\.\.\.$/, '离开页面后连接已断开，正在重新排队…'],
  [/^More tabs$/, '更多标签页'],
  [/^Stop Recording$/, '停止录屏'],
];
const GRADIO_NAMES = [[/^Gradio footer navigation$/, '页脚导航'], [/^More tabs$/, '更多标签页'],
                      [/^Stop Recording$/, '停止录屏']];
function gradioInChinese() {
  const swap = (text, table) => {
    for (const [english, chinese] of table) if (english.test(text)) return text.replace(english, chinese);
    return null;
  };
  const translate = () => {
    for (const part of document.querySelectorAll('[data-testid="toast-text"], .toast-text, button, footer')) {
      const texts = document.createTreeWalker(part, NodeFilter.SHOW_TEXT);
      for (let node = texts.nextNode(); node; node = texts.nextNode()) {
        const chinese = swap(node.nodeValue.trim(), GRADIO_TEXTS);
        if (chinese !== null) node.nodeValue = chinese;
      }
    }
    for (const name of ['aria-label', 'alt', 'title']) {
      for (const part of document.querySelectorAll(`[${name}]`)) {
        const chinese = swap(part.getAttribute(name), GRADIO_NAMES);
        if (chinese !== null) part.setAttribute(name, chinese);
      }
    }
  };
  translate();
  new MutationObserver(translate).observe(document.body, {childList: true, subtree: true, characterData: true});
}
if (!window.__qaGradioInChinese) {
  window.__qaGradioInChinese = true;
  gradioInChinese();
}
