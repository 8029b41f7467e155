/* Clientside callbacks of the Vigie shell (dash_clientside.vigie) and the alert grid's helper functions. */
window.dash_clientside = window.dash_clientside || {};
(function () {
    const NO = window.dash_clientside.no_update;
    let lastStatus = null, lastStatusAt = Date.now(), audio = null;

    window.dash_clientside.vigie = {
        clock: function (n, lang) {
            const now = new Date(Date.now() + ((window.vigie && window.vigie.offset) || 0));
            const locale = lang === "en" ? "en-GB" : "fr-FR";
            const time = now.toLocaleTimeString(locale, {hour: "2-digit", minute: "2-digit", second: "2-digit"});
            const day = now.toLocaleDateString(locale, {weekday: "short", day: "numeric", month: "short"});
            return [time, day];
        },
        watchdog: function (n, status) {
            // The server updates `status` every tick; if it stops, the server (not the city) is down.
            if (status !== lastStatus) { lastStatus = status; lastStatusAt = Date.now(); }
            window.vigie = window.vigie || {};
            window.vigie.offset = (status && status.offset_ms) || 0;  // training: the stream's own time
            return (Date.now() - lastStatusAt > 6000) ? "banner banner-connection" : "banner banner-hidden";
        },
        setLang: function (value, current) {
            if (!value || value === current) { return NO; }
            document.cookie = "vigie_lang=" + value + "; path=/; max-age=31536000; SameSite=Lax";
            window.location.reload();
            return NO;
        },
        alarm: function (news, muted) {
            const fresh = news && news.fresh;
            if (!fresh || !fresh.length) { return NO; }
            document.body.classList.remove("vigie-flash");
            void document.body.offsetWidth;  // restart the animation
            document.body.classList.add("vigie-flash");
            window.vigie = window.vigie || {};
            window.vigie.alarms = (window.vigie.alarms || 0) + 1;  // how many alarms rang (tests, debrief)
            if (!muted) {
                window.vigie.sounds = (window.vigie.sounds || 0) + 1;
                try {
                    audio = audio || new Audio("/assets/alarm.wav");
                    audio.currentTime = 0;
                    const p = audio.play();
                    if (p && p.catch) { p.catch(function () {}); }
                } catch (e) { /* no audio device: the flash is enough */ }
            }
            return fresh.length;
        },
        toggleMute: function (n, muted) {
            if (!n) { return NO; }
            return !muted;
        },
        refreshCountdown: function (n, gridId) {
            const grid = window.dash_ag_grid;
            if (!grid) { return NO; }
            try {
                const api = grid.getApi(gridId);
                if (api) { api.refreshCells({columns: ["due_ts"], force: true}); }
            } catch (e) { /* grid not mounted yet */ }
            return NO;
        },
    };

    window.dashAgGridFunctions = window.dashAgGridFunctions || {};
    const F = window.dashAgGridFunctions;
    F.vigieLeft = function (data) {
        if (!data || data.due_ts === null || data.due_ts === undefined) { return null; }
        return data.due_ts - (Date.now() + ((window.vigie && window.vigie.offset) || 0));
    };
    F.vigieCountdown = function (ms) {
        // time left before the contractual deadline; a leading minus once it is overdue
        if (ms === null || ms === undefined) { return "—"; }
        let s = Math.floor(Math.abs(ms) / 1000);
        const h = Math.floor(s / 3600); s -= 3600 * h;
        const m = Math.floor(s / 60); s -= 60 * m;
        const pad = function (x) { return (x < 10 ? "0" : "") + x; };
        const text = h ? h + " h " + pad(m) : m + " min " + pad(s) + " s";
        return (ms < 0 ? "− " : "") + text;
    };
    F.vigieUrgency = function (data) {
        // amber below half of the contractual window, red below a fifth and when overdue
        const left = F.vigieLeft(data);
        if (left === null) { return ""; }
        const span = Math.max((data.due_ts - (data.opened_ts || data.due_ts)), 1);
        if (left < 0) { return "due-overdue"; }
        if (left < 0.2 * span) { return "due-red"; }
        if (left < 0.5 * span) { return "due-amber"; }
        return "due-ok";
    };
    F.vigieTime = function (ms, lang) {
        if (!ms) { return ""; }
        return new Date(ms).toLocaleTimeString(lang === "en" ? "en-GB" : "fr-FR", {hour: "2-digit", minute: "2-digit"});
    };
})();
