// The page's script, loaded once (ui.launch's head): small fixes to gradio's components that have no setting.
import {watchStrip} from './strip.js';
import {watchTables} from './tables.js';

// Enter in a slider's number box applies the number: gradio's slider sends its "release" when the box loses focus,
// not on Enter, so Enter takes the focus away.
document.addEventListener('keydown', e => {
  const box = e.target;
  if (e.key === 'Enter' && box.matches && box.matches('input[type="number"]') &&
      box.closest('.block') && box.closest('.block').querySelector('input[type="range"]')) {
    box.blur();
  }
}, true);

// The sketchpad draws at once: whenever neither brush nor eraser is selected (at load, after "Clear canvas"), the
// brush is. Gradio's ImageEditor has no setting for its starting tool.
setInterval(() => {
  for (const pad of document.querySelectorAll('.digit-sketch')) {
    const brush = pad.querySelector('button[aria-label="Brush"]'), eraser = pad.querySelector('button[aria-label="Erase"]');
    if (brush && !brush.classList.contains('highlight') && !(eraser && eraser.classList.contains('highlight'))) brush.click();
  }
}, 300);

// On a narrow screen: the row of every model wraps into rows (strip.js), and a table that scrolls says so (tables.js).
watchStrip('#every-model');
watchTables();
