/**
 * The page's SSE parser, the one piece of the page script that is protocol
 * rather than UI: it runs over fetch() bodies (not EventSource, which can
 * neither POST nor send an Authorization header). A string for the inline
 * script, like PAGE_SCRIPT.
 */
export const PAGE_SSE_PARSER = String.raw`
/** Splits a byte stream into SSE events: {id, event, data}; comments (heartbeats) are skipped. */
function sseParser(onEvent) {
  var buffer = '';
  var data = [];
  var eventName = '';
  var id = null;
  return function (text) {
    buffer += text;
    var lines = buffer.split('\n');
    buffer = lines.pop();
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i].replace(/\r$/, '');
      if (line === '') {
        if (data.length > 0) onEvent({ id: id, event: eventName || 'message', data: data.join('\n') });
        data = []; eventName = ''; id = null;
        continue;
      }
      if (line.charAt(0) === ':') continue;
      var colon = line.indexOf(':');
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'event') eventName = value;
      else if (field === 'id') id = value;
    }
  };
}
`;
