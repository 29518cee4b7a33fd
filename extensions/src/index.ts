/** The JupyterLab plugin: the review panel in the right side bar, and a palette command that opens it. */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { ReviewPanel } from './panel';

export const COMMAND = 'clip-explorer:open-review';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'clip-explorer:review-panel',
  description: 'Review Clip Explorer runs (rate, battle, browse, leaderboard) from a side panel, with no kernel.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null
  ) => {
    const panel = new ReviewPanel();
    app.shell.add(panel, 'right', { rank: 900 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(COMMAND, {
      label: 'Clip Explorer: Open review panel',
      caption: 'Rate, battle and browse clips from the log',
      execute: (args: { mode?: string }) => {
        if (labShell?.rightCollapsed) labShell.expandRight();
        app.shell.activateById(panel.id);
        if (typeof args.mode === 'string') panel.select(args.mode);
      }
    });
    palette?.addItem({ command: COMMAND, category: 'Clip Explorer' });
  }
};

export default plugin;
