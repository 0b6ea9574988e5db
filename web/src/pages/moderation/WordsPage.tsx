import { WatchedWordsForm } from '../../components/WatchedWordsForm';
import { ModNav } from './ModNav';
import { instanceWords, saveInstanceWords } from './data';

/** The instance's watched words: a comment anywhere with one of them is held for review. */
export default function WordsPage() {
  return (
    <>
      <h1>Watched words</h1>
      <ModNav here="/moderation/words" />
      <p>A comment anywhere on this instance with one of these words or phrases is held for review.</p>
      <WatchedWordsForm idPrefix="iw" load={instanceWords} save={saveInstanceWords} />
    </>
  );
}
