// Helpers the browser test injects into every JupyterLab page (as window.__bt).
// They read JupyterLab's own state through window.jupyterapp, which the test's server
// exposes with --LabApp.expose_app_in_browser=True, and run JupyterLab's own commands.
window.__bt = {
  /** Run All's progress per notebook path: {stage, done, ok, error, and times in ms}. */
  runs: {},

  /** The open notebook panel whose file is `path` (relative to the server root), or null. */
  panel(path) {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    for (const widget of app.shell.widgets('main')) {
      if (widget.context && widget.context.path === path && widget.content) return widget;
    }
    return null;
  },

  /** The notebook is loaded, its cells are in the page and its kernel is connected and idle. */
  ready(path) {
    const panel = this.panel(path);
    if (!panel || !panel.context.isReady || panel.content.widgets.length === 0) return false;
    const session = panel.sessionContext.session;
    const kernel = session && session.kernel;
    return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
  },

  /**
   * Open the notebook in a background tab, wait until its kernel is idle (the page shows
   * cells before the kernel is ready), then "Run All Cells" on it. Returns at once; the
   * progress is in this.runs[path] and runDone(path) says when it has finished.
   */
  openAndRunAll(path, openTimeoutMs) {
    const app = window.jupyterapp;
    const run = this.runs[path] || { queuedAt: Date.now() };
    Object.assign(run, { stage: 'opening', done: false, startedAt: Date.now() });
    this.runs[path] = run;
    (async () => {
      try {
        if (!this.panel(path)) {
          app.commands.execute('docmanager:open', {
            path, factory: 'Notebook', options: { activate: false },
          });
        }
        const start = Date.now();
        while (!this.ready(path)) {
          if (Date.now() - start > openTimeoutMs) {
            throw new Error(`its kernel was not idle ${openTimeoutMs / 1000} s after opening`);
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        run.stage = 'running all cells';
        run.runAllAt = Date.now();
        // widgetId names the notebook, so which tab is current does not matter.
        run.ok = await app.commands.execute('notebook:run-all-cells', {
          widgetId: this.panel(path).id, activate: false,
        });
        run.stage = 'waiting for the kernel to be idle';
      } catch (err) {
        run.error = String(err);
      }
      run.done = true;
    })();
  },

  /**
   * Open and run the notebooks in `paths`, in that order, `parallel` at a time: whenever
   * one finishes, the next starts, so the machine's cores stay busy while the test checks
   * the widgets of notebooks that have finished. Returns at once.
   */
  schedule(paths, parallel, openTimeoutMs) {
    const queue = paths.filter((p) => !this.runs[p]);
    for (const path of queue) this.runs[path] = { stage: 'queued', done: false, queuedAt: Date.now() };
    const running = () => Object.keys(this.runs)
      .filter((p) => this.runs[p].startedAt && !this.runStatus(p).finished).length;
    const tick = () => {
      while (queue.length && running() < parallel) {
        const path = queue.shift();
        if (this.runs[path]) this.openAndRunAll(path, openTimeoutMs);  // not closed meanwhile
      }
      // keep ticking until every run has finished: runStatus notes each one's finishing time
      if (queue.length || running() > 0) setTimeout(tick, 250);
    };
    tick();
  },

  /**
   * Where Run All stands: finished means it returned, the kernel is idle and no [*] is left.
   * `seconds` is how long the notebook took from opening to finished (null until then).
   */
  runStatus(path) {
    const run = this.runs[path] || { stage: 'not started', done: false };
    const panel = this.panel(path);
    let finished = false;
    if (run.done && (run.error || !panel)) {
      finished = true;
    } else if (run.done) {
      const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
      const busyPrompt = [...panel.node.querySelectorAll('.jp-InputPrompt')]
        .some((p) => p.textContent.includes('*'));
      finished = !!kernel && kernel.status === 'idle' && !busyPrompt;
    }
    if (finished && run.startedAt && !run.finishedAt) run.finishedAt = Date.now();
    const since = (a, b) => (a && b ? (b - a) / 1000 : null);
    const error = run.error || (panel || !run.startedAt ? null : 'the notebook is not open');
    return {
      finished,
      stage: run.stage,
      error,
      seconds: {
        queued: since(run.queuedAt, run.startedAt),
        open: since(run.startedAt, run.runAllAt),
        run_all: since(run.runAllAt, run.finishedAt),
      },
    };
  },

  /** Bring the notebook's tab to the front; true once it is visible. */
  show(path) {
    const panel = this.panel(path);
    if (!panel) return false;
    if (!panel.isVisible) window.jupyterapp.shell.activateById(panel.id);
    return panel.isVisible;
  },

  /**
   * After the run: every cell's errors (from the outputs in the model), which cells display
   * a widget, and whether any output says "Error displaying widget". Widget cells are
   * tagged data-browser-test="widget-N" so the test can find them inside the panel's id.
   */
  report(path) {
    const panel = this.panel(path);
    const errors = [];
    const widgetCells = [];
    panel.content.widgets.forEach((cell, index) => {
      if (cell.model.type !== 'code') return;
      const outputs = cell.model.outputs.toJSON();
      for (const out of outputs) {
        if (out.output_type === 'error') {
          errors.push({ cell: index, text: `${out.ename}: ${out.evalue}` });
        } else if (out.output_type === 'stream' && out.name === 'stderr' && /Traceback/.test(out.text)) {
          errors.push({ cell: index, text: String(out.text).slice(-800) });
        }
      }
      const showsWidget = outputs.some(
        (out) => out.data && out.data['application/vnd.jupyter.widget-view+json'],
      );
      if (showsWidget) {
        cell.node.setAttribute('data-browser-test', `widget-${widgetCells.length}`);
        widgetCells.push(index);
      }
    });
    const errorDisplaying = panel.node.textContent.includes('Error displaying widget');
    return { panelId: panel.id, errors, widgetCells, errorDisplaying };
  },

  /**
   * What one widget cell's output area shows now: its images (src), the text it printed,
   * any error it shows, and how many controls. Called on the cell's node.
   */
  widgetState(node) {
    const area = node.querySelector('.jp-Cell-outputArea') || node;
    const textOf = (selector) => [...area.querySelectorAll(selector)]
      .map((el) => el.textContent.trim()).filter((t) => t.length > 0);
    return {
      images: [...area.querySelectorAll('img')].map((img) => img.src),
      text: textOf('[data-mime-type="application/vnd.jupyter.stdout"]').join('\n'),
      errors: textOf('[data-mime-type="application/vnd.jupyter.stderr"]')
        .filter((t) => /Traceback|[A-Za-z]Error\b/.test(t)),
      errorDisplaying: area.textContent.includes('Error displaying widget'),
      sliders: area.querySelectorAll('.widget-slider .noUi-handle').length,
      dropdowns: area.querySelectorAll('.widget-dropdown select').length,
    };
  },

  /** Shut the notebook's kernel down and close its tab without saving anything. */
  async close(path) {
    const panel = this.panel(path);
    delete this.runs[path];
    if (!panel) return;
    try {
      if (panel.sessionContext.session) await panel.sessionContext.shutdown();
    } finally {
      panel.context.model.dirty = false;
      panel.dispose();
    }
  },
};
