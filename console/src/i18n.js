// The console's words, in English and Simplified Chinese. The language is the one
// chosen with the footer's switch (kept in localStorage), else the browser's
// (navigator.language zh* -> zh-CN), else English. t(key, ...args): a string, or the
// entry's function applied to args. tests/unit/i18n.test.mjs checks both tables have
// the same keys and the same kinds of entry.

//
// Each area of the console past the frame (capture, submit and match, administration)
// keeps its words in a file of its own under strings/, exporting {en: {...},
// 'zh-CN': {...}}, listed in PARTS below; a key defined twice is an error at load.
import capture from './strings/capture.js';
import submitWords from './strings/submit.js';
import admin from './strings/admin.js';
import event from './strings/event.js';
import nodes from './strings/nodes.js';
import migration from './strings/migration.js';

export const LANGS = {en: 'English', 'zh-CN': '中文'};
const KEY = 'imgarc.lang';

export const TABLES = {
    en: {
        brand: 'imgarc',
        nav_bills: 'Bills',
        tenant: 'Tenant',
        sign_out: 'Sign out',
        last_error: 'Last error: request ',
        copy: 'Copy',
        copy_title: 'Copy the request id',
        request_id: 'Request id: ',
        version: (v, commit, node) => `imgarc ${v}${commit ? ` (${commit})` : ''} · node ${node}`,
        version_unknown: 'imgarc (version unknown: the node did not answer)',
        session_ended: 'Your session has ended (expired, signed out or locked). Sign in again.',
        signed_out: 'You are signed out.',
        not_found_title: 'Page not found',
        not_found_text: 'This address names no page of the console. ',
        go_bills: 'Go to the bill list',
        language: 'Language',
        // sign-in
        login_title: 'Sign in to imgarc',
        user_name: 'User name',
        password: 'Password',
        sign_in: 'Sign in',
        locked: (when) => `This account is locked until ${when} (too many wrong passwords). ` +
            'Try again then, or ask a tenant admin to unlock it.',
        throttled: (s) => `Too many failed sign-ins from this computer. Try again in ${s} s.`,
        try_again_now: 'You can try again now.',
        wrong_password: (tenant) => `Wrong user name or password for tenant ${tenant}.`,
        no_answer: (why) => `The node did not answer (${why}). Check the connection, or use ` +
            'another node.',
        // bill list
        bills_title: 'Bills',
        state: 'State',
        any_state: 'Any state',
        image_no: 'Image number',
        bill_no: 'Bill number',
        bill_type: 'Bill type',
        org: 'Organisation',
        created_from: 'Created from',
        created_to: 'Created to',
        per_page: 'Per page',
        search: 'Search',
        clear: 'Clear',
        loading: 'Loading…',
        first_page: 'First page',
        previous: 'Previous',
        next_page: 'Next page',
        empty_page_more: 'No matching bills on this page; more bills follow: go to the next page.',
        no_bills: 'No bills match these filters.',
        no_grants: 'You have no organisation grants, so you see no bills: ask a tenant admin ' +
            'to grant you organisations.',
        files: 'Files',
        created: 'Created',
        updated: 'Updated',
        bills_count: (n, more) => `${n} bill${n === 1 ? '' : 's'} on this page` +
            (more ? '; more follow.' : '.'),
        not_allowed: (p) => `Your roles do not give the ${p} permission this page needs: ask a ` +
            'tenant admin.',
        forbidden: (msg) => `Not allowed: ${msg}`,
        // states
        st_pending_upload: 'Waiting for upload',
        st_captured: 'Captured',
        st_submitted: 'Submitted',
        st_ready: 'Ready',
        st_erp_submitted: 'Submitted to ERP',
        st_erp_failed: 'ERP submission failed',
        st_returned: 'Returned for rescanning',
        // one bill
        no_bill: (no, tenant) => `No bill ${no} in tenant ${tenant} (or it is outside your ` +
            'organisations).',
        select_file: 'Select a file to view it.',
        submitter: 'Submitter',
        amount: 'Amount',
        erp_bill_id: 'ERP bill id',
        source: 'Source',
        in_pool: 'In the pool',
        yes: 'yes',
        no: 'no',
        sec_cover: 'Cover',
        sec_invoice: 'Invoices',
        sec_attachment: 'Attachments',
        none: 'None',
        pages_short: (n) => `${n} p`,
        merged_files: (n) => `merged, ${n} files`,
        status: 'Status',
        log: 'Log',
        deliveries: 'Webhook deliveries',
        ready_q: 'Ready',
        mode: 'Mode',
        mode_undecided: 'not decided (decided at submit)',
        file_counts: (n, c) => `${n} (cover ${c.cover ?? 0}, invoices ${c.invoice ?? 0}, ` +
            `attachments ${c.attachment ?? 0})`,
        invoices_matched: 'Invoices matched',
        matched_of: (m, d) => `${m} of ${d} declared`,
        no_reasons: 'No open reasons: the bill is ready.',
        no_entries: 'No entries.',
        time: 'Time',
        action: 'Action',
        by: 'By',
        detail: 'Detail',
        request_id_col: 'Request id',
        no_deliveries: 'No webhook deliveries for this bill.',
        event: 'Event',
        attempts: 'Attempts',
        done: 'Done',
        last_attempt: 'Last attempt',
        ok: 'ok',
        // viewer
        viewer: 'Viewer',
        zoom_out: 'Zoom out (-)',
        zoom_in: 'Zoom in (+)',
        fit_width: 'Fit width',
        fit_width_title: 'Fit the width (W)',
        actual_size_title: 'Actual size (0)',
        full_screen: 'Full screen',
        full_screen_title: 'Full screen (F)',
        open_tab: 'Open in new tab',
        download: 'Download',
        open_again: 'Open again',
        page_count: (n) => `${n} page${n === 1 ? '' : 's'}`,
        merged_count: (n, files) => `${n} pages in ${files} files (merged)`,
        cannot_show: (why) => `This file cannot be shown: ${why}`,
        image_undecodable: (name) => `The image ${name} could not be decoded.`,
        tiff_undecodable: (why) => `This TIFF page could not be decoded: ${why}`,
        page_failed: (n, why) => `Page ${n} could not be drawn: ${why}. If the file was open a ` +
            'long time, its link has expired.',
        text_cut: (size) => `The first ${size} are shown: download the file for the rest.`,
        card_note: (kind) => `This ${kind} file is not shown in the browser. Download it to ` +
            'open it.',
        format: 'Format',
        size: 'Size',
        pages: 'Pages',
        category: 'Category',
        captured_by: 'Captured by',
        captured_at: 'Captured at',
        inv_number: 'Invoice number',
        inv_code: 'Invoice code',
        inv_date: 'Invoice date',
        inv_tax: 'Tax',
        inv_total: 'Total',
    },
    'zh-CN': {
        brand: 'imgarc',
        nav_bills: '单据',
        tenant: '租户',
        sign_out: '退出登录',
        last_error: '最近的错误：请求 ',
        copy: '复制',
        copy_title: '复制请求 ID',
        request_id: '请求 ID：',
        version: (v, commit, node) => `imgarc ${v}${commit ? ` (${commit})` : ''} · 节点 ${node}`,
        version_unknown: 'imgarc（版本未知：节点没有应答）',
        session_ended: '会话已结束（过期、已退出或账号被锁定），请重新登录。',
        signed_out: '您已退出登录。',
        not_found_title: '页面不存在',
        not_found_text: '此地址不是控制台的页面。',
        go_bills: '返回单据列表',
        language: '语言',
        login_title: '登录 imgarc',
        user_name: '用户名',
        password: '密码',
        sign_in: '登录',
        locked: (when) => `此账号因密码错误次数过多已被锁定，直到 ${when}。` +
            '请届时再试，或请租户管理员解锁。',
        throttled: (s) => `此电脑登录失败次数过多，请 ${s} 秒后再试。`,
        try_again_now: '现在可以重试了。',
        wrong_password: (tenant) => `用户名或密码错误（租户 ${tenant}）。`,
        no_answer: (why) => `节点没有应答（${why}）。请检查网络连接，或使用其他节点。`,
        bills_title: '单据',
        state: '状态',
        any_state: '全部状态',
        image_no: '影像编号',
        bill_no: '单据编号',
        bill_type: '单据类型',
        org: '组织',
        created_from: '创建日期从',
        created_to: '创建日期至',
        per_page: '每页',
        search: '查询',
        clear: '清除',
        loading: '加载中…',
        first_page: '第一页',
        previous: '上一页',
        next_page: '下一页',
        empty_page_more: '本页没有符合条件的单据，后面还有：请翻到下一页。',
        no_bills: '没有符合条件的单据。',
        no_grants: '您没有任何组织的数据权限，因此看不到单据：请租户管理员为您授权组织。',
        files: '文件',
        created: '创建时间',
        updated: '更新时间',
        bills_count: (n, more) => `本页 ${n} 张单据${more ? '，后面还有。' : '。'}`,
        not_allowed: (p) => `您的角色没有此页面所需的 ${p} 权限：请联系租户管理员。`,
        forbidden: (msg) => `无权操作：${msg}`,
        st_pending_upload: '待上传',
        st_captured: '已采集',
        st_submitted: '已提交',
        st_ready: '已就绪',
        st_erp_submitted: '已提交ERP',
        st_erp_failed: '提交ERP失败',
        st_returned: '打回重扫',
        no_bill: (no, tenant) => `租户 ${tenant} 中没有单据 ${no}（或它不在您有权限的组织内）。`,
        select_file: '选择一个文件进行查看。',
        submitter: '提交人',
        amount: '金额',
        erp_bill_id: 'ERP 单据 ID',
        source: '来源',
        in_pool: '在单据池中',
        yes: '是',
        no: '否',
        sec_cover: '封面',
        sec_invoice: '发票',
        sec_attachment: '附件',
        none: '无',
        pages_short: (n) => `${n} 页`,
        merged_files: (n) => `已合并，${n} 个文件`,
        status: '状态',
        log: '日志',
        deliveries: 'Webhook 推送',
        ready_q: '已就绪',
        mode: '模式',
        mode_undecided: '未确定（提交时确定）',
        file_counts: (n, c) => `${n}（封面 ${c.cover ?? 0}，发票 ${c.invoice ?? 0}，` +
            `附件 ${c.attachment ?? 0}）`,
        invoices_matched: '已匹配发票',
        matched_of: (m, d) => `${m} / ${d} 张申报发票`,
        no_reasons: '没有未完成的事项：单据已就绪。',
        no_entries: '没有记录。',
        time: '时间',
        action: '操作',
        by: '操作人',
        detail: '详情',
        request_id_col: '请求 ID',
        no_deliveries: '此单据没有 Webhook 推送记录。',
        event: '事件',
        attempts: '尝试次数',
        done: '完成时间',
        last_attempt: '最近一次尝试',
        ok: '成功',
        viewer: '查看器',
        zoom_out: '缩小 (-)',
        zoom_in: '放大 (+)',
        fit_width: '适合宽度',
        fit_width_title: '适合宽度 (W)',
        actual_size_title: '原始大小 (0)',
        full_screen: '全屏',
        full_screen_title: '全屏 (F)',
        open_tab: '在新标签页打开',
        download: '下载',
        open_again: '重新打开',
        page_count: (n) => `共 ${n} 页`,
        merged_count: (n, files) => `共 ${n} 页，${files} 个文件（已合并）`,
        cannot_show: (why) => `无法显示此文件：${why}`,
        image_undecodable: (name) => `图片 ${name} 无法解码。`,
        tiff_undecodable: (why) => `此 TIFF 页面无法解码：${why}`,
        page_failed: (n, why) => `第 ${n} 页无法显示：${why}。` +
            '如果文件打开时间较长，其链接可能已过期。',
        text_cut: (size) => `仅显示前 ${size}：完整内容请下载文件。`,
        card_note: (kind, code) => `浏览器中不显示此 ${code} 文件。请下载后打开。`,
        format: '格式',
        size: '大小',
        pages: '页数',
        category: '类别',
        captured_by: '采集人',
        captured_at: '采集时间',
        inv_number: '发票号码',
        inv_code: '发票代码',
        inv_date: '开票日期',
        inv_tax: '税额',
        inv_total: '价税合计',
    },
};

// The areas' word files (see the top of this file).
const PARTS = [capture, submitWords, admin, event, nodes, migration];

for (const part of PARTS) {
    for (const [l, words] of Object.entries(part)) {
        for (const [k, v] of Object.entries(words)) {
            if (!Object.hasOwn(TABLES, l) || Object.hasOwn(TABLES[l], k)) {
                throw new Error(`i18n: the word ${l}.${k} is defined twice or for no language`);
            }
            TABLES[l][k] = v;
        }
    }
}

export function pickLang(stored, browser) {
    if (stored && Object.hasOwn(TABLES, stored)) {
        return stored;
    }
    return /^zh\b/i.test(browser || '') ? 'zh-CN' : 'en';
}

let lang = 'en';
try {
    lang = pickLang(globalThis.localStorage?.getItem(KEY), globalThis.navigator?.language);
} catch {
    lang = 'en';
}

export function currentLang() {
    return lang;
}

// Chooses @l for this browser (kept across sessions; not secret) and for this page.
export function setLang(l) {
    if (!Object.hasOwn(TABLES, l)) {
        return;
    }
    lang = l;
    try {
        localStorage.setItem(KEY, l);
    } catch {
        // kept for this page only
    }
}

export function t(key, ...args) {
    const e = TABLES[lang][key] ?? TABLES.en[key];
    if (e === undefined) {
        return key;
    }
    return typeof e === 'function' ? e(...args) : e;
}
