// The words of the banner shown when this node stops answering (nodes.js), in English
// and Simplified Chinese (i18n.js PARTS).
export default {
    en: {
        nd_title: (host) => `This node (${host}) does not answer. Other nodes of this cluster:`,
        nd_hint: 'Each link opens that node\'s console at its sign-in page: sign in there ' +
            'again (your session belongs to this node), then you come back to this page.',
        nd_none: 'No other node of this cluster is known: wait, or ask your administrator.',
        nd_zone: (zone) => `(zone ${zone})`,
        nd_health: (health) => `(${health} at the last check)`,
    },
    'zh-CN': {
        nd_title: (host) => `此节点（${host}）无响应。本集群的其他节点：`,
        nd_hint: '每个链接打开该节点控制台的登录页：请在那里重新登录（您的会话属于此节点），' +
            '登录后回到本页面。',
        nd_none: '不知道本集群的其他节点：请稍候，或联系管理员。',
        nd_zone: (zone) => `（区域 ${zone}）`,
        nd_health: (health) => `（上次检查时：${health}）`,
    },
};
