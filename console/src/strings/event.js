// The words of the page an event code opens (views/event.js).
export default {
    en: {
        ev_title: 'Bill images',
        ev_expires: (when) => `This page was opened from your ERP; its link works until ${when}.`,
        ev_expired: 'This link has expired. Open the images again from your ERP.',
        ev_forged: 'This link is not valid (it was changed or cut short). Open the images ' +
            'again from your ERP.',
        ev_failed: 'The images cannot be shown: the node did not answer. Try again.',
        ev_missing: 'This bill no longer exists.',
    },
    'zh-CN': {
        ev_title: '单据影像',
        ev_expires: (when) => `本页由 ERP 打开，链接有效期至 ${when}。`,
        ev_expired: '链接已过期，请从 ERP 重新打开影像。',
        ev_forged: '链接无效（已被修改或不完整），请从 ERP 重新打开影像。',
        ev_failed: '无法显示影像：节点没有应答，请重试。',
        ev_missing: '该单据已不存在。',
    },
};
