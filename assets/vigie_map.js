/* Leaflet functions of the Vigie map, referenced from Python through dash_extensions.javascript.Namespace("vigie", "map").
 * Live state arrives in each layer's `hideout`: {s: {asset_id: code}} (weather: {asset_id: {s: code, t, r, g, p}}).
 * Codes: 0 nominal, 1 degraded, 2 fault, 3 no data (see dashboard/data.py). */
window.vigie = window.vigie || {};
(function () {
    const FILL = {0: "#2f7fb5", 1: "#ffb000", 2: "#ff3344", 3: "#9c8fc4"};
    const RANK = {0: 0, 3: 1, 1: 2, 2: 3};  // how bad a code is, for the worst member of a cluster
    const SEV = {critical: "#ff3344", major: "#ff8a1f", minor: "#ffd23f", info: "#58a6ff"};

    function stateOf(feature, context) {
        const h = context && context.hideout;
        const v = h && h.s ? h.s[feature.properties.id] : undefined;
        if (v === undefined || v === null) { return 0; }
        return typeof v === "object" ? (v.s || 0) : v;
    }

    function valuesOf(feature, context) {
        const h = context && context.hideout;
        const v = h && h.s ? h.s[feature.properties.id] : undefined;
        return v && typeof v === "object" ? v : {};
    }

    /* What the browser benchmark reads (dashboard/bench.py), cheap enough to stay on in the room.
     * lampsDrawnAt: performance.now() at the first animation frame after the markers on the map account for
     * every lamp of the layer's cluster index; liveDrawnAt: the same for the first such draw carrying a live
     * tick's hideout; faultSeen: asset id -> Date.now() when its fault marker was first drawn. */
    const probe = window.vigie.probe = {lampsTotal: 0, lampsOnMap: 0, lampsDrawnAt: null, liveDrawnAt: null,
                                        faultSeen: {}};
    let passPending = false, passLive = false, seenHideout = null;

    function notePass(context) {
        const h = context && context.hideout;
        if (h !== seenHideout) {  // the initial hideout is {s: {}}; every server tick adds n or states
            seenHideout = h;
            passLive = !!h && (h.n !== undefined || (h.s && Object.keys(h.s).length > 0));
        }
    }

    function stamp(key) {
        requestAnimationFrame(function () {
            if (probe[key] === null) { probe[key] = performance.now(); }
        });
    }

    function endPass() {
        passPending = false;
        if (probe.lampsTotal > 0 && probe.lampsOnMap >= probe.lampsTotal) {
            if (probe.lampsDrawnAt === null) { stamp("lampsDrawnAt"); }
            if (passLive && probe.liveDrawnAt === null) { stamp("liveDrawnAt"); }
        }
    }

    function trackLamps(marker, n) {
        // markers come and go as the cluster layer redraws: count those on the map until the first live draw
        if (probe.liveDrawnAt !== null) { return marker; }
        marker.on("add", function () {
            probe.lampsOnMap += n;
            if (!passPending) { passPending = true; Promise.resolve().then(endPass); }
        });
        marker.on("remove", function () { probe.lampsOnMap -= n; });
        return marker;
    }

    /* The cluster layer redraws every cluster on each hideout change: the members of a cluster are looked
     * up once per cluster index (not walked down the tree on every redraw), and not at all while every
     * lamp is nominal. */
    const leafCache = new WeakMap();
    let checkedStates = null, offNominal = false;

    function leafIds(index, clusterId) {
        let byCluster = leafCache.get(index);
        if (byCluster === undefined) { byCluster = new Map(); leafCache.set(index, byCluster); }
        let ids = byCluster.get(clusterId);
        if (ids === undefined) {
            const leaves = index.getLeaves(clusterId, Infinity);
            ids = new Array(leaves.length);
            for (let i = 0; i < leaves.length; i++) { ids[i] = leaves[i].properties.id; }
            byCluster.set(clusterId, ids);
        }
        return ids;
    }

    function anyOffNominal(states) {
        if (states !== checkedStates) {
            checkedStates = states;
            offNominal = false;
            for (const id in states) { if (states[id]) { offNominal = true; break; } }
        }
        return offNominal;
    }

    function icon(cls, html, size) {
        return L.divIcon({className: cls, html: html || "", iconSize: [size, size], iconAnchor: [size / 2, size / 2]});
    }

    window.vigie.map = {
        communeStyle: function (feature) {
            return {color: "#6f8aa6", weight: 1.6, opacity: 0.75, fillColor: "#16202c", fillOpacity: 0.35, dashArray: null};
        },
        lightPoint: function (feature, latlng, context) {
            const code = stateOf(feature, context);
            notePass(context);
            return trackLamps(L.circleMarker(latlng, {
                radius: code === 0 ? 3 : 5, stroke: code !== 0, color: "#0b0f14", weight: 1,
                fillColor: FILL[code], fillOpacity: code === 0 ? 0.7 : 0.95,
            }), 1);
        },
        lightCluster: function (feature, latlng, index, context) {
            const states = (context && context.hideout && context.hideout.s) || {};
            let worst = 0, bad = 0;
            if (anyOffNominal(states)) {
                const ids = leafIds(index, feature.properties.cluster_id);
                for (let i = 0; i < ids.length; i++) {
                    const c = states[ids[i]] || 0;
                    if (c === 2) { bad += 1; }
                    if (RANK[c] > RANK[worst]) { worst = c; }
                }
            }
            const n = feature.properties.point_count;
            probe.lampsTotal = index.points.length;
            notePass(context);
            const size = n < 100 ? 34 : (n < 1000 ? 42 : 52);
            const label = feature.properties.point_count_abbreviated;
            const html = "<div><span>" + label + "</span>" + (bad ? "<b>" + bad + "</b>" : "") + "</div>";
            return trackLamps(L.marker(latlng, {icon: icon("vigie-cluster vigie-cluster-" + worst, html, size)}), n);
        },
        faultFilter: function (feature, context) {
            return stateOf(feature, context) === 2;
        },
        faultPoint: function (feature, latlng, context) {
            const id = feature.properties.id;
            if (probe.faultSeen[id] === undefined) { probe.faultSeen[id] = Date.now(); }
            return L.circleMarker(latlng, {radius: 7, color: "#ffe3e6", weight: 2, fillColor: FILL[2], fillOpacity: 1,
                                          pane: "vigie-faults"});
        },
        cabinetPoint: function (feature, latlng, context) {
            const code = stateOf(feature, context);
            return L.circleMarker(latlng, {radius: 6, color: FILL[code], weight: 3, fillColor: "#0b0f14", fillOpacity: 1});
        },
        signalPoint: function (feature, latlng, context) {
            return L.marker(latlng, {icon: icon("vigie-signal vigie-s" + stateOf(feature, context), "", 16)});
        },
        cameraPoint: function (feature, latlng, context) {
            return L.marker(latlng, {icon: icon("vigie-camera vigie-s" + stateOf(feature, context), "", 12)});
        },
        bollardPoint: function (feature, latlng, context) {
            return L.marker(latlng, {icon: icon("vigie-bollard vigie-s" + stateOf(feature, context), "", 14)});
        },
        weatherPoint: function (feature, latlng, context) {
            const v = valuesOf(feature, context);
            const code = v.t === undefined ? 3 : stateOf(feature, context);  // no reading yet: say so
            const fmt = function (x) { return (x === undefined || x === null) ? "–" : (Math.round(x * 10) / 10).toFixed(1); };
            let html = "<div class='wx-air'>" + fmt(v.t) + "°</div>", lines = 0;
            if (v.r !== undefined) { const road = (context && context.hideout && context.hideout.road) || "road";
                lines += 1;
                html += "<div class='wx-road" + (v.r <= 0 ? " wx-frost" : "") + "'>" + road + " " + fmt(v.r) + "°</div>"; }
            if (v.g !== undefined && v.g >= 15) { lines += 1; html += "<div class='wx-gust'>" + Math.round(v.g * 3.6) + " km/h</div>"; }
            return L.marker(latlng, {icon: L.divIcon({className: "vigie-weather vigie-s" + code, html: html,
                                                        iconSize: [78, 26 + 16 * lines], iconAnchor: [39, 13 + 8 * lines]}),
                                        pane: "vigie-weather"});
        },
        reportPoint: function (feature, latlng, context) {
            return L.marker(latlng, {icon: icon("vigie-report", "!", 22)});
        },
        alertPoint: function (feature, latlng, context) {
            const p = feature.properties;
            const cls = "vigie-alert vigie-sev-" + p.severity + (p.state === "open" ? " vigie-unack" : "");
            return L.marker(latlng, {icon: icon(cls, "", 26), pane: "vigie-alerts", zIndexOffset: 1000 - 100 * (p.rank || 0)});
        },
    };
})();
