import type { IDataObject, ILoadOptionsFunctions, INodePropertyOptions } from 'n8n-workflow';
import { tiergateApiRequest } from '../shared/transport';

/** The task types of the server's policy, for the Task Type dropdown (`GET /v1/policy/task-types`). */
export async function getTaskTypes(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
	const answer = await tiergateApiRequest.call(this, 'GET', '/v1/policy/task-types');
	const taskTypes = ((answer.items ?? []) as IDataObject[]).map((item) => ({
		name: String(item.name),
		value: String(item.name),
		description: item.description ? String(item.description) : undefined,
	}));
	// Route and Run With Fallback may leave the choice to Tiergate's rules.
	const operation = this.getCurrentNodeParameter('operation') as string | undefined;
	if (operation !== 'classify') {
		taskTypes.unshift({
			name: 'Let Tiergate Decide',
			value: '',
			description: 'Tiergate works the task type out from the text',
		});
	}
	return taskTypes;
}
