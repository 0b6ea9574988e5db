/** Sets the document title: "<page> · troupe". */
export function setTitle(title: string): void {
  document.title = title ? `${title} · troupe` : 'troupe';
}
