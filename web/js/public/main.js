// The one module web/public.html loads. gssd serves that page for both of
// the customer's links; the path says which one this is:
//   /i/{token}  the invoice (./invoice.js)
//   /r/{token}  the rating  (./rating.js)
// Anything else (the file opened by its own name) is a wrong link.

import { replace } from '../dom.js';
import { pageFromPath, problemView } from './common.js';
import * as invoicePage from './invoice.js';
import * as ratingPage from './rating.js';

const root = document.getElementById('page');
const which = pageFromPath(location.pathname);

if (!which) {
  document.title = 'Link tidak ditemukan';
  replace(root, problemView({ status: 404 }));
} else if (which.kind === 'invoice') {
  invoicePage.mount(root, which.token);
} else {
  ratingPage.mount(root, which.token);
}
