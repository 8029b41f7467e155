/* Leaflet function of the remote-control preview, referenced from Python through
 * dash_extensions.javascript.Namespace("vigie", "commands") (layouts/components/commands.py). */
window.vigie = window.vigie || {};
window.vigie.commands = {
    previewPoint: function (feature, latlng) {
        return L.circleMarker(latlng, {radius: 7, color: "#00e5ff", weight: 2, fillOpacity: 0.15,
                                       pane: "vigie-command-preview", interactive: false});
    },
};
