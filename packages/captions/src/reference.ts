/** The seed report's 8 reference captions: both stages' training grids and the report show these. */
export const REFERENCE_CAPTIONS = [
  'the flower shown has yellow anther red pistil and bright red petals',
  'this flower has petals that are yellow, white and purple and has dark lines',
  'the petals on this flower are white with a yellow center',
  'this flower has a lot of small round pink petals',
  'this flower is orange in color, and has petals that are ruffled and rounded',
  'the flower has yellow petals and the center of it is brown',
  'this flower has petals that are blue and white',
  'these white flowers have petals that start off white in color and end in a white towards the tips',
] as const;
